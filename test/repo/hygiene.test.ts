/**
 * Repository-wide checks: every hook is shellcheck-clean, the TypeScript type-checks, and nothing
 * generated (images, keys, evidence) is tracked.
 */
import { execFileSync, spawnSync } from "child_process";
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
test.each(["tsconfig.json", "policy/tsconfig.json", "policy/tests/tsconfig.json"])("the TypeScript type-checks (%s)", (project) => {
  const r = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", project, "--noEmit"], {
    cwd: root,
    encoding: "utf8",
  });
  expect(r.stdout + r.stderr).toBe("");
  expect(r.status).toBe(0);
}, 300_000);

test("no generated images, keys or evidence are in the repository", () => {
  const suspicious = repoFiles().filter((f) =>
    /\.(qcow2|raw|vmdk|img|vdi|vhdx?|luks)$|(^|\/)id_(rsa|ed25519|ecdsa)(\.pub)?$|ssh_host_.*key/.test(f),
  );
  expect(suspicious).toEqual([]);
});
