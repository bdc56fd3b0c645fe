/**
 * The host's ssh into a hostile guest obeys only the lab's own options (lib/hooks/ssh-options.sh), whatever
 * root's ~/.ssh/config says and with the examiner's ssh-agent running: no agent, tty, control socket, local
 * command, forward or sent variable reaches or opens anything, and the pinned host key still decides.
 * The stand-in guest is an sshd on 127.0.0.1 that would grant all of it (test/support/hostile-ssh.ts).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GuestConnection, renderHook, renderInGuest, REPO_ROOT } from "../shell";
import { sshOptions, SSH_OPTIONS_LIBRARY } from "../ssh-options";
import { HostileSsh, ISOLATED_SESSION, startHostileSsh } from "../../test/support/hostile-ssh";

jest.setTimeout(60_000);

let ssh: HostileSsh;
let scratch: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-isolation-"));
  ssh = await startHostileSsh(path.join(scratch, "ssh"));
});
afterAll(() => {
  ssh?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const inner = (body: string) => `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`;
const inGuest = (connection: GuestConnection, body: string) => renderInGuest(connection, inner(body), "fail");

function expectNothingLeaked(): void {
  expect(ssh.localCommandRan()).toBe(false);
  expect(ssh.controlSockets()).toEqual([]);
}

test("the hostile config is really in force for a plain ssh (the stand-in would leak everything)", async () => {
  // The baseline the other tests are measured against: without the lab's options, ssh obeys the config.
  const r = await ssh.runHostile(
    `ssh -o BatchMode=yes -i ${ssh.connection.privateKeyPath} -p ${ssh.connection.port} root@127.0.0.1 true; sleep 0.2`,
  );
  expect(r.code).toBe(0);
  const [session] = ssh.takeSessions();
  expect(session).toMatchObject({
    agentKeys: true,
    tty: true,
    sentVariable: "examiner-secret",
    localForwardOpen: true,
    remoteForwardOpen: true,
  });
  expect(ssh.localCommandRan()).toBe(true);
  expect(ssh.controlSockets()).not.toEqual([]);
  fs.rmSync(path.join(ssh.dir, "local-command-ran"));
  // The master lives ControlPersist (2 s) longer; wait it out so later tests start clean.
  for (let i = 0; i < 50 && ssh.controlSockets().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(ssh.controlSockets()).toEqual([]);
});

test("in-guest.sh: no agent, tty, forward, control socket, local command or sent variable; stdin reaches the hook unechoed", async () => {
  const r = await ssh.runHostile(inGuest({ ...ssh.connection, hostKey: undefined }, 'printf "%s|" "$(cat)"'), { stdin: "the passphrase" });
  expect(r).toMatchObject({ code: 0, stdout: "the passphrase|" });
  expect(ssh.takeSessions()).toEqual([ISOLATED_SESSION]);
  expectNothingLeaked();
});

test("in-guest.sh through a -J hop: the hop reads no config either", async () => {
  const r = await ssh.runHostile(inGuest({ ...ssh.connection, jumpHost: ssh.jumpHost }, "echo ran"));
  expect(r.stderr).toBe("");
  expect(r).toMatchObject({ code: 0, stdout: "ran\n" });
  // The hop is a -W forward (no session of its own); the session through it is the guest's.
  expect(ssh.takeSessions()).toEqual([ISOLATED_SESSION]);
  expectNothingLeaked();
});

test("in-guest.sh: the pinned host key still decides, whatever StrictHostKeyChecking/UserKnownHostsFile the config sets", async () => {
  const r = await ssh.runHostile(inGuest({ ...ssh.connection, hostKey: ssh.otherHostKey }, "echo ran"));
  expect(r.stdout).not.toContain("ran");
  expect(r.code).not.toBe(0);
  expect(ssh.takeSessions()).toEqual([]);
  expectNothingLeaked();
});

test("the option lists: each option exists in the installed OpenSSH and is what ssh -G resolves to under the hostile config", async () => {
  const script = path.join(scratch, "ssh-g.sh");
  fs.writeFileSync(
    script,
    `#!/usr/bin/env bash\nset -euo pipefail\n# forensic-lab:include ${SSH_OPTIONS_LIBRARY}\nguest_ssh -G -p 2222 root@127.0.0.1\n`,
  );
  const r = await ssh.runHostile(renderHook(script, {}));
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const resolved = new Map(r.stdout.split("\n").map((line) => [line.split(" ")[0], line.slice(line.indexOf(" ") + 1)]));
  const asked = [...sshOptions("any-host"), ...sshOptions("guest")];
  expect(asked.slice(0, 2)).toEqual(["-F", "none"]);
  const expected: Record<string, string> = {
    batchmode: "yes",
    stricthostkeychecking: "true",
    updatehostkeys: "false",
    forwardagent: "no",
    forwardx11: "no",
    clearallforwardings: "yes",
    tunnel: "false",
    controlmaster: "false",
    controlpersist: "no",
    permitlocalcommand: "no",
    forkafterauthentication: "no",
    requesttty: "false",
    identityagent: "none",
    identitiesonly: "yes",
    globalknownhostsfile: "/dev/null",
    // From the config, had it been read: "examiner-secret" would be sent, the known_hosts skipped.
    userknownhostsfile: "/root/.ssh/known_hosts /root/.ssh/known_hosts2",
  };
  for (const [name, value] of Object.entries(expected)) expect([name, resolved.get(name)]).toEqual([name, value]);
  for (const absent of ["controlpath", "localcommand", "localforward", "remoteforward", "sendenv", "proxycommand"]) {
    expect([absent, resolved.has(absent)]).toEqual([absent, false]);
  }
  // Every -o in the lists is one ssh -G printed (so none is misspelt into a silent no-op).
  // Every -o in the lists is a name ssh -G prints (none misspelt into an error or a no-op); ssh -G
  // leaves out ControlPath when it is none, which the absent list above checks.
  const names = asked.filter((w) => w.includes("=") && w !== "ControlPath=none").map((w) => w.split("=")[0].toLowerCase());
  expect(names.filter((name) => !resolved.has(name))).toEqual([]);
});

test("every ssh a hook starts goes through lab_ssh or guest_ssh", () => {
  const scripts = execFileSync("git", ["ls-files", "*.sh"], { cwd: REPO_ROOT, encoding: "utf8" }).trim().split("\n");
  const bare: string[] = [];
  for (const script of scripts) {
    if (script === SSH_OPTIONS_LIBRARY) continue;
    fs.readFileSync(path.join(REPO_ROOT, script), "utf8")
      .split("\n")
      .forEach((line, i) => {
        const code = line.replace(/(^|\s)#.*$/, "");
        // `ssh` as a command word (not ssh-keygen, sshfs, an option value or a word in a message).
        if (/(^|[;&|(!{]|\bthen|\bdo|\bexec|\bif)\s*(command\s+)?ssh(\s|$)/.test(code.replace(/"[^"]*"|'[^']*'/g, '""'))) {
          bare.push(`${script}:${i + 1}: ${line.trim()}`);
        }
      });
  }
  expect(bare).toEqual([]);
});
