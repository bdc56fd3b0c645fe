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

test("no generated images, keys or evidence are in the repository", () => {
  const suspicious = repoFiles().filter((f) =>
    /\.(qcow2|raw|vmdk|img|vdi|vhdx?|luks)$|(^|\/)id_(rsa|ed25519|ecdsa)(\.pub)?$|ssh_host_.*key/.test(f),
  );
  expect(suspicious).toEqual([]);
});
