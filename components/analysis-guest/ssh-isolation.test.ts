/**
 * The analysis guest's own ssh (host-create.sh's wait for the guest, its ssh to a remote libvirt host, and the
 * examiner's `sshCommand`) obeys only the lab's options under a hostile root ~/.ssh/config with an
 * ssh-agent running. The guest and the libvirt host are one sshd on 127.0.0.1 that would grant every
 * forward (test/support/hostile-ssh.ts); libvirt is a stand-in virsh.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHook, shellQuote } from "../../lib/shell";
import { sshOptions } from "../../lib/ssh-options";
import { HostileSsh, ISOLATED_SESSION, startHostileSsh } from "../../test/support/hostile-ssh";
import { CREATE_HOOK, planGuest, sshCommandFor } from "./plan";

jest.setTimeout(60_000);

let ssh: HostileSsh;
let scratch: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "analysis-guest-ssh-"));
  ssh = await startHostileSsh(path.join(scratch, "ssh"));
  // A stand-in virsh: the case's domain is running (a KVM one).
  fs.mkdirSync(path.join(scratch, "bin"));
  fs.writeFileSync(
    path.join(scratch, "bin", "virsh"),
    `#!/usr/bin/env bash\nshift 3\ncase "$1" in\n  list) echo "$FAKE_DOMAIN" ;;\n  domstate) echo running ;;\n  dumpxml) echo "<domain type='kvm'>" ;;\n  *) echo "unexpected virsh $*" >&2; exit 2 ;;\nesac\n`,
    { mode: 0o755 },
  );
});
afterAll(() => {
  ssh?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function plan(libvirtUri = "qemu:///system") {
  const p = planGuest({
    caseId: "ssh-isolation",
    stateDir: path.join(scratch, "case"),
    imageDir: path.join(scratch, "no-image"),
    memoryMiB: 1024,
    vcpus: 1,
    sshPort: ssh.connection.port,
    accelerator: "auto",
    network: "user-restricted",
    isolatedNetwork: "",
    libvirtUri,
    bootTimeoutSeconds: 20,
  });
  const values = {
    ...p.createValues,
    PRIVATE_KEY: ssh.connection.privateKeyPath,
    HOST_KEY: path.join(ssh.dir, "host_key"),
    KNOWN_HOSTS: ssh.connection.knownHostsPath,
  };
  return { plan: p, values };
}

const env = () => ({ PATH: `${path.join(scratch, "bin")}:${process.env.PATH}`, FAKE_DOMAIN: "forensic-ssh-isolation" });

test("host-create.sh waits for the running guest's sshd with the lab's options only", async () => {
  const { values } = plan();
  const r = await ssh.runHostile(renderHook(CREATE_HOOK, values), { env: env() });
  expect(r.stderr).toContain("running; ssh answers with the pinned host key");
  expect(r.code).toBe(0);
  expect(ssh.takeSessions()).toEqual([ISOLATED_SESSION]);
  expect(ssh.localCommandRan()).toBe(false);
  expect(ssh.controlSockets()).toEqual([]);
});

test("host-create.sh's ssh to a remote libvirt host reads no ssh_config either", async () => {
  // qemu+ssh://root@127.0.0.1:<port>/system: the file work runs there; no domain yet, and no guest
  // image, so the hook stops at its first remote check, after one session.
  const { plan: p, values } = plan(`qemu+ssh://root@127.0.0.1:${ssh.connection.port}/system`);
  expect(p.createValues.LIBVIRT_SSH_TARGET).toBe("root@127.0.0.1");
  const r = await ssh.runHostile(renderHook(CREATE_HOOK, values), { env: { ...env(), FAKE_DOMAIN: "" } });
  expect(r.stderr).toContain(`imageDir: no guest image at '${p.createValues.IMAGE_DIR}'`);
  expect(r.code).toBe(1);
  expect(ssh.takeSessions()).toEqual([ISOLATED_SESSION]);
  expect(ssh.localCommandRan()).toBe(false);
  expect(ssh.controlSockets()).toEqual([]);
});

test("the examiner's sshCommand carries every option of the hooks' lists, and obeys no ssh_config", async () => {
  const command = sshCommandFor(ssh.connection);
  const words = command.split(" ");
  for (const list of ["any-host", "guest"] as const) {
    const options = sshOptions(list);
    // In order, as one run: the list is the hooks' list, not a look-alike.
    const runs = words.map((_w, at) => words.slice(at, at + options.length).join(" "));
    expect(runs).toContain(options.join(" "));
  }
  const r = await ssh.runHostile(`${command} ${shellQuote("printf '%s|' \"$(cat)\"")}`, { stdin: "typed" });
  expect(r).toMatchObject({ code: 0, stdout: "typed|" });
  // Not RequestTTY=no (it is for an interactive shell), yet no tty for a command, forced or not.
  expect(ssh.takeSessions()).toEqual([ISOLATED_SESSION]);
  expect(ssh.localCommandRan()).toBe(false);
  expect(ssh.controlSockets()).toEqual([]);
});
