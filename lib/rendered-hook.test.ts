import { execFileSync } from "child_process";
import * as fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { testGuestConnection } from "../test/support/guest-connection";
import { innerHook, innermostHook, parseRenderedHook, renderedHookPaths, runsHook } from "./rendered-hook";
import { renderHook, renderInGuest } from "./shell";
import { hookFile } from "./hook-file";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rendered-hook-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function scratchHook(body: string): string {
  const file = path.join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  return file;
}

describe("parseRenderedHook", () => {
  test("reads back every value renderHook wrote, hostile ones included", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }).filter((s) => !s.includes("\0")),
        fc.array(fc.string().filter((s) => !s.includes("\0"))),
        (scalar, list) => {
          const hook = parseRenderedHook(renderHook(scratchHook("true"), { SCALAR: scalar, LIST: list, FLAG: true, PORT: 2222 }));
          expect(hook?.values.get("SCALAR")).toBe(scalar);
          expect(hook?.values.get("LIST")).toEqual(list);
          expect(hook?.values.get("FLAG")).toBe("true");
          expect(hook?.values.get("PORT")).toBe("2222");
        },
      ),
      { numRuns: 200 },
    );
  });

  test("agrees with bash on what the prelude holds", () => {
    const value = 'it\'s $(rm -rf /) `x` \\ "q"\nline2';
    const text = renderHook(scratchHook('printf "%s" "$V"'), { V: value });
    expect(execFileSync("bash", ["-c", text], { encoding: "utf8" })).toBe(value);
    expect(parseRenderedHook(text)?.values.get("V")).toBe(value);
  });

  test("returns undefined for text that is not a rendered hook", () => {
    expect(parseRenderedHook("#!/usr/bin/env bash\nmount /dev/sda1 /mnt\n")).toBeUndefined();
    const rendered = renderHook(scratchHook("true"), { A: "x" });
    expect(parseRenderedHook(rendered.replace("readonly A='x'", "A=x"))).toBeUndefined();
    expect(parseRenderedHook(rendered.replace("readonly A='x'", "readonly A='x"))).toBeUndefined();
  });
});

describe("hooks wrapped for the guest", () => {
  test("the inner hook is read back whole, however deep", () => {
    const inner = renderHook(scratchHook("true"), { A: "it's" });
    const guest = testGuestConnection();
    const wrapped = renderInGuest(guest, inner, "fail");
    expect(innerHook(wrapped)).toBe(inner);
    expect(innermostHook(wrapped)).toBe(inner);
    expect(innermostHook(inner)).toBe(inner);
    expect(renderedHookPaths(wrapped)).toEqual(["lib/hooks/in-guest.sh", parseRenderedHook(inner)!.name]);
    expect(() => innerHook(inner)).toThrow(/no scalar INNER_HOOK/);
  });
});

describe("which hook a rendered text runs", () => {
  test("read from the headers, outermost first; a hook's comments or libraries naming another hook do not count", () => {
    const close = hookFile("evidence-volume", "any-luks-close.sh");
    const text = renderHook(close, { MAPPER_NAME: "forensic-x", ON_HOST: true });
    expect(text).toContain("host-backing-create.sh"); // its included library names the hooks that share it
    expect(renderedHookPaths(text)).toEqual([close]);
    expect(runsHook(text, close)).toBe(true);
    expect(runsHook(text, hookFile("evidence-volume", "host-backing-create.sh"))).toBe(false);
    const guest = testGuestConnection();
    const wrapped = renderInGuest(guest, text, "succeed");
    expect(renderedHookPaths(wrapped)).toEqual(["lib/hooks/in-guest.sh", close]);
    expect(runsHook(wrapped, close)).toBe(true);
  });
});
