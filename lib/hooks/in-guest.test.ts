/**
 * The ssh wrapper every in-guest hook runs through, tested against a real sshd on loopback standing in
 * for the guest: pinned host key accepted, any other key refused (no trust-on-first-use), stdin reaches
 * the inner hook, hostile values stay data, and delete hooks treat a vanished guest as nothing to undo.
 */
import { ChildProcess, execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { freeLoopbackPort, startLoopbackSshd } from "../../test/support/loopback";
import * as os from "os";
import * as path from "path";
import { GuestConnection, inGuestCommand, REPO_ROOT } from "../shell";
import { valueOf } from "../../test/mocks";

let dir: string;
let sshd: ChildProcess;
let port: number;
let hookCount = 0;

function connection(overrides: Partial<GuestConnection> = {}): GuestConnection {
  return {
    host: "127.0.0.1",
    port,
    user: os.userInfo().username,
    privateKeyPath: path.join(dir, "client key"),
    knownHostsPath: path.join(dir, "known hosts"),
    jumpHost: "",
    domainName: "forensic-wrapper-test",
    libvirtUri: "test:///default",
    ...overrides,
  };
}

async function run(conn: GuestConnection, hook: string, values: Record<string, string>, onGone: "fail" | "succeed", stdin = "") {
  // A file per hook text: lib/shell.ts caches hook files by path, as they are static in the product.
  const hookFile = path.join(dir, `hook-${++hookCount}.sh`);
  fs.writeFileSync(hookFile, hook);
  const text = await valueOf(inGuestCommand(conn, hookFile, values, onGone));
  return spawnSync("/bin/bash", ["-c", text], { input: stdin, encoding: "utf8", timeout: 30_000 });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "in-guest wrapper '$(x)' "));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "host key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "other host key")]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "client key")]);
  fs.copyFileSync(path.join(dir, "client key.pub"), path.join(dir, "authorized_keys"));
  port = await freeLoopbackPort();
  const hostPub = fs.readFileSync(path.join(dir, "host key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  fs.writeFileSync(path.join(dir, "known hosts"), `[127.0.0.1]:${port} ${hostPub}\n`);
  sshd = await startLoopbackSshd({ dir, port, hostKey: path.join(dir, "host key"), authorizedKeys: path.join(dir, "authorized_keys") });
});

afterAll(() => {
  sshd?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("runs the inner hook with values intact and stdin passed through", async () => {
  const r = await run(
    connection(),
    '#!/usr/bin/env bash\nset -euo pipefail\nprintf "%s|" "$EVIDENCE_DIR" "$(cat)"\n',
    { EVIDENCE_DIR: "/evidence/it's $(touch /tmp/pwned-in-guest) `x`" },
    "fail",
    "the passphrase",
  );
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("/evidence/it's $(touch /tmp/pwned-in-guest) `x`|the passphrase|");
  expect(fs.existsSync("/tmp/pwned-in-guest")).toBe(false);
  expect(r.status).toBe(0);
});

test("the inner hook's failure is the command's failure", async () => {
  const r = await run(connection(), "#!/usr/bin/env bash\nset -euo pipefail\necho nope >&2\nexit 7\n", {}, "fail");
  expect(r.status).toBe(7);
  expect(r.stderr).toContain("nope");
});

test("a host key other than the pinned one is refused", async () => {
  const otherPub = fs.readFileSync(path.join(dir, "other host key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const wrongKnownHosts = path.join(dir, "wrong known hosts");
  fs.writeFileSync(wrongKnownHosts, `[127.0.0.1]:${port} ${otherPub}\n`);
  const r = await run(connection({ knownHostsPath: wrongKnownHosts }), "#!/usr/bin/env bash\necho ran\n", {}, "fail");
  expect(r.stdout).not.toContain("ran");
  expect(r.stderr).toMatch(/host key|REMOTE HOST IDENTIFICATION/i);
  expect(r.status).not.toBe(0);
});

test("an unknown host (empty known_hosts) is refused, never trusted on first use", async () => {
  const empty = path.join(dir, "empty known hosts");
  fs.writeFileSync(empty, "");
  const r = await run(connection({ knownHostsPath: empty }), "#!/usr/bin/env bash\necho ran\n", {}, "fail");
  expect(r.stdout).not.toContain("ran");
  expect(r.status).not.toBe(0);
  expect(fs.readFileSync(empty, "utf8")).toBe("");
});

test("delete hooks: a guest whose domain is gone is nothing to undo", async () => {
  // test:///default is libvirt's built-in test driver: it knows no domain of this name.
  const r = await run(connection({ port: 1 }), "#!/usr/bin/env bash\necho ran\n", {}, "succeed");
  expect(r.stdout).not.toContain("ran");
  expect(r.stderr).toContain("is gone; nothing to undo");
  expect(r.status).toBe(0);
});

test("create hooks: an unreachable guest is an error", async () => {
  const r = await run(connection({ port: 1 }), "#!/usr/bin/env bash\necho ran\n", {}, "fail");
  expect(r.status).not.toBe(0);
});

test("a host key carried in the command is what is pinned, whatever the known_hosts file says", async () => {
  const hostPub = fs.readFileSync(path.join(dir, "host key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const otherPub = fs.readFileSync(path.join(dir, "other host key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const hook = "#!/usr/bin/env bash\necho ran\n";
  const missingFile = { knownHostsPath: path.join(dir, "no such known_hosts") };
  const right = await run(connection({ ...missingFile, hostKey: hostPub }), hook, {}, "fail");
  expect(right.stdout).toBe("ran\n");
  expect(right.status).toBe(0);
  // The case's known_hosts holds the right key, but the command was made for another guest: refused.
  const wrong = await run(connection({ hostKey: otherPub }), hook, {}, "fail");
  expect(wrong.stdout).not.toContain("ran");
  expect(wrong.status).not.toBe(0);
});

test("the wrapper is found relative to the repository", () => {
  expect(fs.existsSync(path.join(REPO_ROOT, "lib/hooks/in-guest.sh"))).toBe(true);
});
