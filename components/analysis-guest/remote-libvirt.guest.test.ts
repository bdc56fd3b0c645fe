/**
 * A remote libvirt host (`qemu+ssh://root@127.0.0.1:<port>/system`), proven on this machine: the test
 * starts its own sshd on loopback as "the libvirt host", and runs the real create and delete hooks with
 * that URI. virsh then goes through libvirt's ssh transport, the hooks' file work through `ssh`, and the
 * host reaches the guest with `ssh -J`, exactly as with a real remote host.
 *
 * The hooks' ssh reads root's ~/.ssh (identity, known_hosts), like virsh's own transport does. So that
 * the test neither trusts anything blindly nor touches the real ~/.ssh, each hook runs in a private
 * mount namespace in which a scratch folder is bind-mounted over /root/.ssh.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseHookResult, renderHook, renderInGuest } from "../../lib/shell";
import {
  BOOT_TIMEOUT_MS,
  DESTROY_TIMEOUT_MS,
  ensureGuestImage,
  ensureLibvirt,
  ExecResult,
  freeLoopbackPort,
  run,
} from "../../test/guest/harness";
import { CREATE_HOOK, DELETE_HOOK, GuestCreateResult, GuestPlan, planGuest } from "./plan";

jest.setTimeout(10 * 60_000);

let work: string;
let sshDir: string;
let sshd: ChildProcess | undefined;
let sshdLog: string;
let commandLog: string;
let uri: string;
let plan: GuestPlan;

/**
 * Runs text with bash in a private mount namespace whose /root/.ssh is the test's scratch folder. A host
 * without /root/.ssh gets an empty tmpfs /root in that namespace to hold the mount point: the real /root
 * is never touched.
 */
const WITH_SCRATCH_SSH = `
if [[ ! -d /root/.ssh ]]; then mount -t tmpfs -o mode=0700 scratch-root /root && mkdir -m 0700 /root/.ssh; fi
mount --bind "$0" /root/.ssh && exec /bin/bash -c "$1"`;

function withTestSsh(text: string, timeoutMs = BOOT_TIMEOUT_MS): Promise<ExecResult> {
  return run(["unshare", "--mount", "--propagation", "private", "/bin/bash", "-c", WITH_SCRATCH_SSH, sshDir, text], { timeoutMs });
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (rc ${r.code}): ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  await ensureLibvirt();
  const imageDir = await ensureGuestImage();
  work = fs.mkdtempSync(path.join(os.tmpdir(), "analysis-guest-remote-"));
  fs.chmodSync(work, 0o711);
  sshDir = path.join(work, "root-ssh");
  const sshdDir = path.join(work, "sshd");
  fs.mkdirSync(sshDir, { mode: 0o700 });
  fs.mkdirSync(sshdDir, { mode: 0o700 });
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // sshd's privilege separation folder

  // "The libvirt host": an sshd on loopback that lets root in with one key and forwards to loopback (-J).
  await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path.join(sshdDir, "host_key")]);
  await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path.join(sshDir, "id_ed25519")]);
  fs.copyFileSync(path.join(sshDir, "id_ed25519.pub"), path.join(sshdDir, "authorized_keys"));
  const port = await freeLoopbackPort();
  sshdLog = path.join(sshdDir, "sshd.log");
  // Every command run on "the libvirt host" is logged before it runs, to show the hooks' file work
  // really went through ssh (here both ends are one machine, so the files alone would prove nothing).
  commandLog = path.join(sshdDir, "commands.log");
  const logCommand = path.join(sshdDir, "log-command");
  fs.writeFileSync(
    logCommand,
    `#!/bin/sh\nprintf '%s\\n' "$SSH_ORIGINAL_COMMAND" >>'${commandLog}'\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(
    path.join(sshdDir, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${sshdDir}/host_key`,
      `PidFile ${sshdDir}/sshd.pid`,
      `AuthorizedKeysFile ${sshdDir}/authorized_keys`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      // Its files sit under /tmp (mode 1777), which StrictModes rejects; they are root's and 0600/0700.
      "StrictModes no",
      "AllowTcpForwarding local",
      `ForceCommand ${logCommand}`,
      "X11Forwarding no",
      // DEBUG1 logs each forward the jump opens (`target 127.0.0.1 port N`).
      "LogLevel DEBUG1",
      "",
    ].join("\n"),
  );
  sshd = spawn("/usr/sbin/sshd", ["-D", "-f", path.join(sshdDir, "sshd_config"), "-E", sshdLog], { stdio: "ignore" });
  // Pinned, not learned: the host key goes into the (bind-mounted) known_hosts before any connection.
  const hostKey = fs.readFileSync(path.join(sshdDir, "host_key.pub"), "utf8").split(" ").slice(0, 2).join(" ");
  fs.writeFileSync(path.join(sshDir, "known_hosts"), `[127.0.0.1]:${port} ${hostKey}\n`, { mode: 0o600 });
  for (let i = 0; i < 50 && !fs.existsSync(path.join(sshdDir, "sshd.pid")); i++) await new Promise((r) => setTimeout(r, 100));

  uri = `qemu+ssh://root@127.0.0.1:${port}/system`;
  plan = planGuest({
    caseId: `remote-${path
      .basename(work)
      .slice(-6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "x")}`,
    stateDir: path.join(work, "case"),
    imageDir,
    memoryMiB: 1536,
    vcpus: 2,
    sshPort: await freeLoopbackPort(),
    accelerator: "auto",
    network: "user-restricted",
    isolatedNetwork: "",
    libvirtUri: uri,
    bootTimeoutSeconds: Math.floor(BOOT_TIMEOUT_MS / 1000) - 60,
  });
}, 30 * 60_000);

afterAll(async () => {
  if (plan) await withTestSsh(renderHook(DELETE_HOOK, plan.deleteValues), DESTROY_TIMEOUT_MS);
  // Whatever happened above, the domain must not outlive the test (local URI: same daemon).
  if (plan) {
    await run(["virsh", "-c", "qemu:///system", "destroy", plan.domainName]);
    await run(["virsh", "-c", "qemu:///system", "undefine", plan.domainName]);
  }
  if (sshd?.pid) process.kill(sshd.pid, "SIGTERM");
  if (work) fs.rmSync(work, { recursive: true, force: true });
}, DESTROY_TIMEOUT_MS);

test("the plan reaches the libvirt host by ssh and the guest through it (-J)", () => {
  expect(plan.createValues.LIBVIRT_SSH_TARGET).toBe("root@127.0.0.1");
  expect(plan.connection.jumpHost).toBe(uri.replace("qemu+ssh://", "").replace("/system", ""));
});

test("virsh reaches the libvirt host over qemu+ssh with the pinned host key", async () => {
  const r = await withTestSsh(`virsh -c '${uri}' list --all --name`, 60_000);
  expect(r.code).toBe(0);
  expect(fs.readFileSync(sshdLog, "utf8")).toMatch(/Accepted publickey for root from 127\.0\.0\.1/);
});

test("create through the remote URI boots the guest; an in-guest command runs through the jump host", async () => {
  const created = await withTestSsh(renderHook(CREATE_HOOK, plan.createValues));
  if (created.code !== 0) throw new Error(`create failed: ${created.stderr}`);
  const result = parseHookResult<GuestCreateResult>(created.stdout);
  expect(result).toMatchObject({ outcome: "created", jumpHost: plan.connection.jumpHost, libvirtUri: uri });
  // The hooks' file work ran on "the libvirt host" through its sshd, and so did libvirt's transport.
  const commands = fs.readFileSync(commandLog, "utf8");
  expect(commands).toContain(`'qemu-img' 'create' '-q' '-f' 'qcow2' '-F' 'qcow2' '-b'`);
  expect(commands).toContain(`'mkfs.ext4'`);
  expect(commands).toContain(`'bash' '-c'`); // accelerator detection on the libvirt host
  expect(commands).toContain("virt-ssh-helper");
  for (const file of [plan.domain.overlayPath, plan.domain.seedPath, plan.domain.kernelPath]) expect(fs.existsSync(file)).toBe(true);

  const inGuest = renderInGuest(plan.connection, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub", "fail");
  const r = await withTestSsh(inGuest, 5 * 60_000);
  expect(r).toMatchObject({ code: 0, stdout: `${result.hostKey}\n` });
  // The guest connection went through the test sshd as a forward to the guest's loopback port.
  expect(fs.readFileSync(sshdLog, "utf8")).toContain(`target 127.0.0.1 port ${plan.connection.port}`);
});

test("create again through the remote URI leaves the running guest alone", async () => {
  const again = await withTestSsh(renderHook(CREATE_HOOK, plan.createValues));
  expect(again.code).toBe(0);
  expect(parseHookResult<GuestCreateResult>(again.stdout).outcome).toBe("running");
});

test("delete through the remote URI removes domain and files; a second delete is a no-op", async () => {
  const first = await withTestSsh(renderHook(DELETE_HOOK, plan.deleteValues), DESTROY_TIMEOUT_MS);
  expect(first.code).toBe(0);
  const second = await withTestSsh(renderHook(DELETE_HOOK, plan.deleteValues), DESTROY_TIMEOUT_MS);
  expect(second.code).toBe(0);
  expect(second.stderr).toContain("no domain; nothing to stop");
  const domains = await must(["virsh", "-c", "qemu:///system", "list", "--all", "--name"]);
  expect(domains.split("\n")).not.toContain(plan.domainName);
  expect(fs.existsSync(plan.stateDir)).toBe(false);
});
