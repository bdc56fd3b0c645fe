/**
 * Repository-wide checks: every hook is shellcheck-clean, the TypeScript type-checks, the package build
 * holds the package only, lib/ stands below components/, and nothing generated (images, keys, evidence)
 * is tracked.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const root = path.resolve(__dirname, "../..");

function repoFiles(): string[] {
  // Tracked plus untracked-but-not-ignored: what a commit would contain.
  const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter(Boolean);
}

test("every shell script is shellcheck-clean", () => {
  const scripts = repoFiles().filter((f) => f.endsWith(".sh") || f === ".ci/run");
  expect(scripts.length).toBeGreaterThan(0);
  const r = spawnSync("shellcheck", ["--shell=bash", "--severity=style", ...scripts], { cwd: root, encoding: "utf8" });
  expect(r.error).toBeUndefined();
  expect(r.stdout + r.stderr).toBe("");
  expect(r.status).toBe(0);
});

// The policy pack has its own tsconfig (it is published apart from the program), and so do its tests.
test.each(["tsconfig.json", "policy/tsconfig.json", "policy/tests/tsconfig.json"])(
  "the TypeScript type-checks (%s)",
  (project) => {
    const r = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", project, "--noEmit"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  },
  300_000,
);

test("the package build (npm run build) holds the package only: no tests, test support or bench", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "dist-"));
  try {
    const r = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", out], {
      cwd: root,
      encoding: "utf8",
    });
    expect(r.stdout + r.stderr).toBe("");
    const built = (fs.readdirSync(out, { recursive: true }) as string[]).filter((f) => f.endsWith(".js"));
    expect(built).toContain("library.js");
    expect(built.filter((f) => /\.test\.js$|^(test|bench|scripts|policy)\//.test(f))).toEqual([]);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 300_000);

test("layers point one way: nothing in lib/ imports from components/", () => {
  const offenders = repoFiles()
    .filter((f) => f.startsWith("lib/") && f.endsWith(".ts"))
    .filter((f) => /from "(\.\.\/)+components\//.test(fs.readFileSync(path.join(root, f), "utf8")));
  expect(offenders).toEqual([]);
});

describe("every component folder has the one shape (docs/ARCHITECTURE.md)", () => {
  const folders = fs.readdirSync(path.join(root, "components")).filter((f) => fs.statSync(path.join(root, "components", f)).isDirectory());
  const pascal = (folder: string) => folder.replace(/(^|-)([a-z])/g, (_m, _dash, c: string) => c.toUpperCase());
  const filesOf = (folder: string) =>
    repoFiles()
      .filter((f) => f.startsWith(`components/${folder}/`))
      .map((f) => f.slice(`components/${folder}/`.length));

  test("there are the eight components", () => {
    expect(folders.sort()).toEqual([
      "analysis-guest",
      "case",
      "evidence-volume",
      "image-transfer",
      "nbd-attachment",
      "partition-mount",
      "raid-array",
      "volume-systems",
    ]);
  });

  test.each(folders)("%s: <Name>.ts, args.ts, plan.ts, <Name>.test.ts, README.md, hooks/<host|guest|any>-*.sh", (folder) => {
    const name = pascal(folder);
    const files = filesOf(folder);
    for (const required of [`${name}.ts`, "args.ts", "plan.ts", `${name}.test.ts`, "README.md"]) expect(files).toContain(required);
    const scripts = files.filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter((f) => !/^hooks\/(host|guest|any)-[a-z0-9-]+\.sh$/.test(f))).toEqual([]);
    // Hooks that run in the guest are proven in a real guest: by the component's own guest test, or by the
    // one its README names (NbdAttachment's hooks only make sense under PartitionMount's).
    if (scripts.some((f) => /^hooks\/(guest|any)-/.test(f)) && !files.includes(`${name}.guest.test.ts`)) {
      expect(fs.readFileSync(path.join(root, "components", folder, "README.md"), "utf8")).toMatch(
        /components\/[a-z-]+\/[A-Za-z]+\.guest\.test\.ts/,
      );
    }
  });

  test("TypeScript names a hook file only through hookFile(), and every hook is used", () => {
    const typescript = repoFiles().filter((f) => f.endsWith(".ts") && f !== "lib/hook-file.ts" && !f.startsWith("policy/node_modules/"));
    const literal = /["'`]components\/[a-z-]+\/(?:hooks\/)?[A-Za-z0-9_.-]+\.sh["'`]/;
    expect(typescript.filter((f) => literal.test(fs.readFileSync(path.join(root, f), "utf8")))).toEqual([]);
    const product = typescript.filter((f) => !/\.test\.ts$/.test(f) && !f.startsWith("test/") && !f.startsWith("policy/tests/"));
    const named = new Set<string>();
    for (const f of product) {
      for (const m of fs.readFileSync(path.join(root, f), "utf8").matchAll(/hookFile\("([a-z-]+)", "([a-z0-9-]+\.sh)"\)/g)) {
        named.add(`components/${m[1]}/hooks/${m[2]}`);
      }
      // image-transfer names its many hooks through one local helper: hook("<file>")
      if (f === "components/image-transfer/plan.ts") {
        for (const m of fs.readFileSync(path.join(root, f), "utf8").matchAll(/\bhook\("([a-z0-9-]+\.sh)"\)/g))
          named.add(`components/image-transfer/hooks/${m[1]}`);
      }
    }
    for (const f of repoFiles().filter((f) => f.endsWith(".sh"))) {
      for (const m of fs.readFileSync(path.join(root, f), "utf8").matchAll(/^# forensic-lab:include (\S+)$/gm)) named.add(m[1]);
    }
    const hooks = repoFiles().filter((f) => /^components\/[a-z-]+\/hooks\/.*\.sh$/.test(f));
    expect(hooks.filter((h) => !named.has(h))).toEqual([]);
    expect([...named].filter((h) => h.startsWith("components/") && !hooks.includes(h))).toEqual([]);
  });
});

test("the policy pack reads no file of the checkout at run time (it pins the in-guest wrapper by hash)", () => {
  const pack = repoFiles().filter((f) => /^policy\/(lib\/)?[^/]+\.ts$/.test(f));
  expect(pack.length).toBeGreaterThan(3);
  const reads = /\bfrom "(node:)?fs(\/promises)?"|require\("(node:)?fs"\)|\b(hookBody|renderHook|hookCommand|readHook)\b/;
  expect(pack.filter((f) => reads.test(fs.readFileSync(path.join(root, f), "utf8").replace(/^\s*(\/\/|\*).*$/gm, "")))).toEqual([]);
});

test("no generated images, keys or evidence are in the repository", () => {
  const suspicious = repoFiles().filter((f) =>
    /\.(qcow2|raw|vmdk|img|vdi|vhdx?|luks)$|(^|\/)id_(rsa|ed25519|ecdsa)(\.pub)?$|ssh_host_.*key/.test(f),
  );
  expect(suspicious).toEqual([]);
});
