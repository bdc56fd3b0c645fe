import { execFileSync, spawnSync } from "child_process";
import * as fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { result } from "./hook-result";
import { parseHookResult, renderHook, renderPrelude, REPO_ROOT, shellQuote } from "./shell";

const hostile = [
  "plain",
  "with space",
  "it's quoted",
  `"double" and 'single'`,
  "$(touch /tmp/forensic-lab-pwned)",
  "`touch /tmp/forensic-lab-pwned`",
  "${HOME} $HOME \\ backslash",
  "new\nline",
  "glob * ? [a]",
  "; rm -rf / #",
  "",
];

/** Runs bash with a prelude and prints each named value NUL-separated, so tests compare exact bytes. */
function roundTrip(values: Record<string, string>): string[] {
  const names = Object.keys(values).sort();
  const script = `${renderPrelude(values)}\nprintf '%s\\0' ${names.map((n) => `"$${n}"`).join(" ")}`;
  const out = execFileSync("/bin/bash", ["-c", script], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

describe("prelude quoting", () => {
  afterAll(() => fs.rmSync("/tmp/forensic-lab-pwned", { force: true }));

  test("hostile values reach bash byte for byte and nothing is executed", () => {
    const values = Object.fromEntries(hostile.map((v, i) => [`VALUE_${i}`, v]));
    const sorted = Object.keys(values)
      .sort()
      .map((k) => values[k]);
    expect(roundTrip(values)).toEqual(sorted);
    expect(fs.existsSync("/tmp/forensic-lab-pwned")).toBe(false);
  });

  test("arbitrary strings survive (property)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: "binary" }).filter((s) => !s.includes("\0")),
          { minLength: 1, maxLength: 5 },
        ),
        (words) => {
          const values = Object.fromEntries(words.map((w, i) => [`W${i}`, w]));
          const sorted = Object.keys(values)
            .sort()
            .map((k) => values[k]);
          expect(roundTrip(values)).toEqual(sorted);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("arrays become bash arrays, numbers and booleans strings", () => {
    const script = `${renderPrelude({ LIST: ["a b", "$(x)", "c'd"], COUNT: 3, FLAG: true })}\nprintf '%s|' "\${#LIST[@]}" "\${LIST[@]}" "$COUNT" "$FLAG"`;
    expect(execFileSync("/bin/bash", ["-c", script], { encoding: "utf8" })).toBe("3|a b|$(x)|c'd|3|true|");
  });

  test("values are readonly: a hook cannot silently overwrite its inputs", () => {
    const r = spawnSync("/bin/bash", ["-c", `${renderPrelude({ TARGET: "/mnt/x" })}\nTARGET=/\necho "$TARGET"`], { encoding: "utf8" });
    expect(r.stderr).toMatch(/TARGET: readonly variable/);
  });

  test("rejects names that are not UPPER_CASE identifiers and NUL bytes", () => {
    expect(() => renderPrelude({ "bad-name": "x" })).toThrow(/must match/);
    expect(() => renderPrelude({ lower: "x" })).toThrow(/must match/);
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });
});

describe("renderHook", () => {
  test("prelude goes before the static body, whose own shebang is dropped", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hook-"));
    const file = path.join(dir, "echo.sh");
    fs.writeFileSync(file, '#!/usr/bin/env bash\nset -euo pipefail\nprintf "%s" "$GREETING"\n');
    const text = renderHook(file, { GREETING: "it's $(here)" });
    expect(text.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(text.match(/^#!/gm)).toHaveLength(1);
    expect(execFileSync("/bin/bash", ["-c", text], { encoding: "utf8" })).toBe("it's $(here)");
    fs.rmSync(dir, { recursive: true });
  });
});

describe("hook libraries", () => {
  test("an include line is replaced by the library's text, once per hook, and runs", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hook-lib-"));
    fs.writeFileSync(path.join(dir, "greet.sh"), '#!/usr/bin/env bash\ngreet() { printf "hello %s" "$1"; }\n');
    fs.writeFileSync(
      path.join(dir, "hook.sh"),
      `#!/usr/bin/env bash\nset -euo pipefail\n# forensic-lab:include ${dir}/greet.sh\ngreet "$NAME"\n`,
    );
    const text = renderHook(path.join(dir, "hook.sh"), { NAME: "examiner" });
    expect(text).not.toContain("forensic-lab:include");
    expect(text.match(/^greet\(\)/gm)).toHaveLength(1);
    expect(text.match(/^#!/gm)).toHaveLength(1);
    expect(execFileSync("/bin/bash", ["-c", text], { encoding: "utf8" })).toBe("hello examiner");
    fs.writeFileSync(path.join(dir, "nested.sh"), `#!/usr/bin/env bash\n# forensic-lab:include ${dir}/greet.sh\n`);
    fs.writeFileSync(path.join(dir, "hook2.sh"), `#!/usr/bin/env bash\n# forensic-lab:include ${dir}/nested.sh\n`);
    expect(() => renderHook(path.join(dir, "hook2.sh"), {})).toThrow(/libraries must not/);
    fs.rmSync(dir, { recursive: true });
  });
});

describe("parseHookResult: exactly one result line, the last, fitting the hook's schema", () => {
  const schema = z.strictObject({
    device: result.nbdDevice,
    sha256: result.sha256,
    mountPoint: result.absolutePath,
    options: result.mountOptions,
  });
  const good = { device: "/dev/nbd0", sha256: "a".repeat(64), mountPoint: "/mnt/forensic/win7/p1", options: ["ro", "noexec"] };
  const line = (r: unknown) => `FORENSIC_LAB_RESULT ${JSON.stringify(r)}`;
  const parse = (stdout: string) => parseHookResult(stdout, schema, "guest-attach.sh");

  test("progress lines before it are fine; one trailing newline is fine (the engine strips it anyway)", () => {
    expect(parse(`progress\n${line(good)}\n`)).toEqual(good);
    expect(parse(`progress\n${line(good)}`)).toEqual(good);
  });
  test.each<[string, string, RegExp]>([
    ["no result line", "nothing here", /no 'FORENSIC_LAB_RESULT' line/],
    ["two result lines", `${line({ ...good, device: "/dev/nbd9" })}\n${line(good)}\n`, /2 times; exactly one result line/],
    ["a result line smuggled inside another field", line({ ...good, mountPoint: `/x\n${line(good)}` }), /2 times/],
    ["a forged line in the progress", `FORENSIC_LAB_RESULT {}\n${line(good)}`, /2 times/],
    ["lines after the result line", `${line(good)}\nmore`, /not the last line/],
    ["a partial line", line(good).slice(0, 40), /not JSON/],
    ["an unknown key", line({ ...good, extra: 1 }), /Unrecognized key/],
    ["a device that is not nbd", line({ ...good, device: "/dev/sda" }), /device: must be an nbd device/],
    ["a partition where the device belongs", line({ ...good, device: "/dev/nbd0p1" }), /device: must be an nbd device/],
    ["sha256 in upper case", line({ ...good, sha256: "A".repeat(64) }), /sha256: must be a sha256/],
    ["a relative path", line({ ...good, mountPoint: "mnt/x" }), /mountPoint: must be absolute \(got 'mnt\/x'\)/],
    ["a path with '..'", line({ ...good, mountPoint: "/mnt/../etc" }), /mountPoint: must not contain '..'/],
    ["options without ro first", line({ ...good, options: ["rw", "ro"] }), /options: must start with 'ro'/],
    ["a number where a string belongs", line({ ...good, sha256: 1 }), /sha256: /],
    ["not an object", "FORENSIC_LAB_RESULT [1]", /guest-attach\.sh: result rejected/],
  ])("rejected, naming the hook: %s", (_what, stdout, why) => {
    expect(() => parse(stdout)).toThrow(/^guest-attach\.sh: result rejected: /);
    expect(() => parse(stdout)).toThrow(why);
  });
  test("nbd partitions and device names", () => {
    expect(result.nbdPartition.safeParse("/dev/nbd12p3").success).toBe(true);
    expect(result.nbdPartition.safeParse("/dev/nbd12").success).toBe(false);
    expect(result.nbdDevice.safeParse("/dev/nbd1 ").success).toBe(false);
  });
  test("components always name the hook and its schema: no one-argument calls outside tests and the bench", () => {
    const offenders = spawnSync(
      "grep",
      ["-rnE", "parseHookResult(<[^>]*>)?\\([a-z.]+\\)", "components", "lib", "index.ts", "--include=*.ts"],
      { cwd: REPO_ROOT, encoding: "utf8" },
    ).stdout.split("\n");
    expect(offenders.filter((l) => l && !/\.test\.ts:|test-[a-z-]+\.ts:/.test(l))).toEqual([]);
  });
});
