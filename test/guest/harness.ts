/**
 * Guest test harness: boots real analysis guests through the AnalysisGuest component's own create and
 * delete hooks, so every in-guest hook is tested against the guest the lab really builds.
 *
 * Typical use in a `*.guest.test.ts`:
 *
 * ```ts
 * let guest: TestGuest;
 * beforeAll(async () => { guest = await bootTestGuest({ name: "nbd" }); }, BOOT_TIMEOUT_MS);
 * afterAll(() => guest?.destroy(), DESTROY_TIMEOUT_MS);
 * test("...", async () => {
 *   const r = await guest.runInGuestHook(hookFile("x", "guest-attach.sh"), { DEVICE: "/dev/nbd0" });
 *   expect(r.code).toBe(0);
 *   expect((await guest.ssh("lsblk -no RO /dev/nbd0")).stdout.trim()).toBe("1");
 * });
 * ```
 *
 * - Guests are named `forensic-<name>-<random>` with a free loopback port and a state folder under
 *   /tmp, so engineers (and repeated runs) booting at the same time never collide.
 * - Nothing here throws on a command's exit code: `ExecResult.code` says how it went. `bootTestGuest`
 *   throws when the guest cannot be made, after removing what it made.
 * - Under QEMU software emulation (this machine kind) a boot takes about 15-60 s depending on load;
 *   use the exported timeouts.
 * - Environment: FORENSIC_LAB_GUEST_IMAGE_ROOT overrides where images are built (default
 *   /var/lib/forensic-lab/guest-image).
 */
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { freeLoopbackPort } from "../support/loopback";
import { identityAlive, processIdentity } from "../support/processes";
import { MockRun, settle } from "../mocks";
import { GuestConnection, HookValue, inGuestCommand, parseHookResult, renderHook, renderInGuest, REPO_ROOT } from "../../lib/shell";
import { ExtraDiskSpec } from "../../components/analysis-guest/domain-xml";
import { CREATE_HOOK, DELETE_HOOK, GuestCreateResult, GuestPlan, planGuest } from "../../components/analysis-guest/plan";

export type { HookValue } from "../../lib/shell";

/** Generous: several engineers boot TCG guests on two shared cores. */
export const BOOT_TIMEOUT_MS = 15 * 60_000;
export const DESTROY_TIMEOUT_MS = 120_000;

export const LIBVIRT_URI = "qemu:///system";

/**
 * What a mocked run's RaidArray assemble command prints, so the component's Outputs resolve when a guest
 * test renders its commands; the real hook runs later, in the guest.
 */
export const ARRAY_STAND_IN = {
  device: "/dev/mapper/fl-array-x",
  uuid: "00000000:00000000:00000000:00000000",
  metadata: "1.2",
  level: 0,
  detail: "stand-in",
  state: "complete",
  members: [{ device: "/dev/nbd0", role: 0 }],
  missingRoles: [],
  sizeBytes: 0,
};
const LIBVIRT_SOCKETS = ["/run/libvirt/libvirt-sock", "/var/run/libvirt/libvirt-sock"];
const IMAGE_ROOT = process.env.FORENSIC_LAB_GUEST_IMAGE_ROOT ?? "/var/lib/forensic-lab/guest-image";
// A case id is a letter, then letters, digits and "-"; the harness adds "-<6 hex>".
const NAME = /^[a-z][a-z0-9-]{1,24}$/;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestGuest {
  /** The libvirt domain name, `forensic-<name>-<random>`. */
  name: string;
  connection: GuestConnection;
  /** Host folder of this guest's keys and disks (under /tmp). */
  stateDir: string;
  /** The create hook's result: host key, accelerator, boot time. */
  result: GuestCreateResult;
  /** The plan the hooks were rendered from (paths, domain XML). */
  plan: GuestPlan;
  /** Runs `script` with `bash -c` in the guest as root; never throws on the exit code. Default timeout 10 min. */
  ssh(script: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
  /**
   * Renders an in-guest hook with `inGuestCommand` (values through the prelude, the wrapper pinning the
   * host key) and runs it with bash on the host, exactly as its `local.Command` would.
   */
  runInGuestHook(
    scriptPath: string,
    values: Record<string, HookValue>,
    opts?: { stdin?: string; onGuestGone?: "fail" | "succeed"; timeoutMs?: number },
  ): Promise<ExecResult>;
  /**
   * Copies a host file into the guest with scp (SFTP mode: the guest path is taken literally, no remote
   * shell sees its quotes or `$(...)`); its folder must exist. Throws if scp fails.
   */
  copyIn(hostPath: string, guestPath: string): Promise<void>;
  /** Runs the real delete hook (domain, overlay, seed, keys). Idempotent; throws if the hook fails. */
  destroy(): Promise<void>;
}

export interface BootOptions {
  /** Short name (a letter, then [a-z0-9-], 2-25 characters); the domain is `forensic-<name>-<random>`. */
  name: string;
  /** @default 2048 */
  memoryMiB?: number;
  /** @default 2 */
  vcpus?: number;
  /** Attached with serial `forensic-evidence`, cache=none, like the lab's evidence volume. */
  evidenceDisk?: { path: string; type: "file" | "block" };
  /**
   * More disks, `/dev/disk/by-id/virtio-<serial>` in the guest. File or block device is detected;
   * `format` defaults to raw, `readOnly` to false.
   */
  extraDisks?: { path: string; serial: string; format?: "raw" | "qcow2"; readOnly?: boolean }[];
  /** @default "auto" */
  accelerator?: "auto" | "kvm" | "tcg";
}

/** Runs a program with optional stdin; resolves with its exit code and output (124 on timeout). */
export function run(
  argv: readonly string[],
  opts: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true, // its own process group, so a timeout can stop everything it started
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // already gone
            }
          }, opts.timeoutMs);
    child.stdout.on("data", (d: Buffer) => stdout.push(d));
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const err = Buffer.concat(stderr).toString("utf8");
      resolve({
        code: timedOut ? 124 : (code ?? 128 + (signal ? os.constants.signals[signal] : 0)),
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: timedOut ? `${err}\n(timed out after ${opts.timeoutMs} ms)` : err,
      });
    });
    child.stdin.on("error", () => undefined); // the program may exit without reading its stdin
    child.stdin.end(opts.stdin ?? "");
  });
}

/** A component's command as `local.Command` would run it: its create and delete text, and stdin if any. */
export interface HookCommands {
  readonly create: string;
  readonly delete: string;
  readonly stdin?: string;
}

/**
 * Reads the command `<name>-<step>` that `make(name)` declares from a mocked Pulumi run, so a guest
 * test runs exactly the text a real run would. `mocks` is a getter because each file sets its mocks up
 * in beforeAll; every call names a fresh component, `<prefix><n>`.
 */
export function commandReader(mocks: () => MockRun, prefix: string) {
  let count = 0;
  return async (make: (name: string) => void, step: string): Promise<HookCommands> => {
    const name = `${prefix}${++count}`;
    make(name);
    await settle();
    const cmd = mocks().byName(`${name}-${step}`);
    const stdin = cmd.inputs.stdin as unknown;
    return {
      create: String(cmd.inputs.create),
      delete: String(cmd.inputs.delete),
      ...(stdin === undefined ? {} : { stdin: typeof stdin === "string" ? stdin : String((stdin as { value: unknown }).value) }),
    };
  };
}

/** The hook's result when it exited 0; otherwise an error carrying its output. */
export function succeeded(r: ExecResult): ExecResult {
  if (r.code !== 0) throw new Error(`hook failed (rc ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs rendered hook text the way `hookResource` does: `/bin/bash -c <text>`, stdin passed through. */
export function runHookText(text: string, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return run(["/bin/bash", "-c", text], opts);
}

/** Renders a host hook with `renderHook` and runs it with bash, as its `local.Command` would. */
export function runHostHook(
  scriptPath: string,
  values: Record<string, HookValue>,
  opts: { stdin?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return runHookText(renderHook(scriptPath, values), opts);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function libvirtAnswers(): Promise<boolean> {
  const r = await run(["virsh", "-c", LIBVIRT_URI, "list", "--all", "--name"], { timeoutMs: 20_000 });
  return r.code === 0;
}

/**
 * What Debian's libvirt-daemon-system would have set up, done the same way, since that package (with its
 * polkit, iptables and NAT default network) is not installed here: the unprivileged `libvirt-qemu`
 * user QEMU runs as (sVirt DAC), and libvirt's log folder.
 */
async function prepareLibvirtHost(): Promise<void> {
  fs.mkdirSync("/var/log/libvirt/qemu", { recursive: true });
  fs.mkdirSync("/var/lib/libvirt", { recursive: true });
  const has = async (db: string, name: string) => (await run(["getent", db, name])).code === 0;
  if (!(await has("group", "kvm"))) await run(["groupadd", "--system", "kvm"]);
  if (!(await has("passwd", "libvirt-qemu"))) {
    await run([
      "useradd",
      "--system",
      "--gid",
      "kvm",
      "--home-dir",
      "/var/lib/libvirt",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      "--comment",
      "Libvirt Qemu",
      "libvirt-qemu",
    ]);
  }
  if (!(await has("group", "libvirt-qemu"))) await run(["groupadd", "--system", "libvirt-qemu"]);
  await run(["usermod", "--append", "--groups", "libvirt-qemu", "libvirt-qemu"]);
  // Another test process may have raced us to it: only the end state matters.
  if (!(await has("passwd", "libvirt-qemu")) || !(await has("group", "libvirt-qemu"))) {
    throw new Error("ensureLibvirt: could not create the libvirt-qemu user and group QEMU runs as");
  }
}

/** Starts `virtlogd -d` and `libvirtd -d` when they are not running (no systemd here) and waits for libvirt. */
export async function ensureLibvirt(): Promise<void> {
  if (LIBVIRT_SOCKETS.some((s) => fs.existsSync(s)) && (await libvirtAnswers())) return;
  await prepareLibvirtHost();
  for (const daemon of ["virtlogd", "libvirtd"]) {
    const running = await run(["pgrep", "-x", daemon]);
    // A second `-d` start while another test starts it too just fails on the pid file: harmless.
    if (running.code !== 0) await run([daemon, "-d"], { timeoutMs: 30_000 });
  }
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (LIBVIRT_SOCKETS.some((s) => fs.existsSync(s)) && (await libvirtAnswers())) return;
    await sleep(500);
  }
  throw new Error(
    `libvirt did not answer at ${LIBVIRT_URI} within 60 s after starting virtlogd and libvirtd; see /var/log/libvirt/libvirtd.log`,
  );
}

let imageDir: Promise<string> | undefined;

/** Builds the guest image if its inputs changed (about a minute), else reuses it; returns its folder. */
export function ensureGuestImage(): Promise<string> {
  imageDir ??= (async () => {
    const r = await run(["bash", path.join(REPO_ROOT, "guest-image/build.sh"), IMAGE_ROOT], { timeoutMs: 30 * 60_000 });
    if (r.code !== 0) {
      imageDir = undefined;
      throw new Error(`guest-image/build.sh failed (rc ${r.code}):\n${r.stderr.slice(-4000)}`);
    }
    const dir = r.stdout.trim().split("\n").pop() ?? "";
    if (!fs.existsSync(path.join(dir, "manifest.json"))) throw new Error(`guest-image/build.sh printed no image folder`);
    return dir;
  })();
  return imageDir;
}

/** A loopback port nobody listens on right now, from below the ephemeral range (test/support/loopback.ts). */

export { freeLoopbackPort };

function resolveOutput<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

const liveGuests = new Set<TestGuest>();

/**
 * The file beside a test guest's state folder (`<folder>.owner`) naming the process that booted it
 * (`processIdentity`). Beside, not in it: the delete hook removes the state folder only when it is empty.
 */
const ownerFileOf = (stateDir: string) => `${stateDir}.owner`;
/** State folders of test guests: `forensic-guest-<name>-XXXXXX` in the temporary folder. */
const STATE_DIR_PREFIX = path.join(os.tmpdir(), "forensic-guest-");
let sweptGoneRuns: Promise<string[]> | undefined;

/**
 * Removes the test guests of runs that are gone: a test run killed part-way (a CI job stopped, Ctrl-C
 * twice) leaves its guests running, and under software emulation each keeps a core busy, so the next
 * run's guests miss their timeouts. Only a domain whose disks lie in a test guest's state folder with an
 * owner file beside it is looked at; the lab's own guests (the demo, the e2e, an examiner's case) have none and
 * are never touched. Returns what it removed.
 */
export async function removeGuestsOfGoneRuns(): Promise<string[]> {
  const removed: string[] = [];
  const names = (await run(["virsh", "-c", LIBVIRT_URI, "list", "--all", "--name"])).stdout
    .split("\n")
    .filter((n) => n.startsWith("forensic-"));
  for (const name of names) {
    const xml = (await run(["virsh", "-c", LIBVIRT_URI, "dumpxml", name])).stdout;
    // libvirt quotes attributes with '. A test guest's overlay lies in its state folder: <STATE_DIR_PREFIX><name>-XXXXXX/disks/overlay.qcow2.
    const inStateDir = [...xml.matchAll(/<source file=(["'])(.+?)\1/g)].map((m) => m[2]).find((f) => f.startsWith(STATE_DIR_PREFIX));
    const folderEnd = inStateDir?.indexOf("/", STATE_DIR_PREFIX.length) ?? -1;
    if (!inStateDir || folderEnd < 0) continue;
    const folder = inStateDir.slice(0, folderEnd);
    let owner: string;
    try {
      owner = fs.readFileSync(ownerFileOf(folder), "utf8").trim();
    } catch {
      continue;
    }
    if (identityAlive(owner)) continue;
    await run(["virsh", "-c", LIBVIRT_URI, "destroy", name]);
    const undefine = await run(["virsh", "-c", LIBVIRT_URI, "undefine", name]);
    if (undefine.code !== 0) throw new Error(`cannot undefine ${name}, left by a test run that is gone: ${undefine.stderr.trim()}`);
    fs.rmSync(folder, { recursive: true, force: true });
    fs.rmSync(ownerFileOf(folder), { force: true });
    removed.push(`${name} (booted by pid ${owner.split(" ")[0]}, gone)`);
  }
  if (removed.length > 0) console.warn(`test guests of runs that are gone, removed: ${removed.join(", ")}`);
  return removed;
}

/** Destroys every guest this process booted and has not destroyed yet (for `afterAll`). */
export async function destroyAllTestGuests(): Promise<void> {
  for (const guest of [...liveGuests]) await guest.destroy();
}

/**
 * Boots a real analysis guest with the component's create hook and returns a handle to it. On failure
 * the delete hook removes whatever was made, then the error (with the hook's stderr) is thrown.
 */
export async function bootTestGuest(opts: BootOptions): Promise<TestGuest> {
  if (!NAME.test(opts.name)) throw new Error(`bootTestGuest: name '${opts.name}' must match ${NAME}`);
  await ensureLibvirt();
  await (sweptGoneRuns ??= removeGuestsOfGoneRuns());
  const image = await ensureGuestImage();
  const extraDisks: ExtraDiskSpec[] = (opts.extraDisks ?? []).map((d) => ({
    path: d.path,
    serial: d.serial,
    type: fs.statSync(d.path).isBlockDevice() ? "block" : "file",
    format: d.format ?? "raw",
    readOnly: d.readOnly ?? false,
  }));

  let lastError = "";
  // The port is free when picked but another guest may take it before QEMU binds it: try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const caseId = `${opts.name}-${randomBytes(3).toString("hex")}`;
    const stateDir = fs.mkdtempSync(`${STATE_DIR_PREFIX}${opts.name}-`);
    fs.writeFileSync(ownerFileOf(stateDir), `${processIdentity(process.pid)}\n`);
    const plan = planGuest({
      caseId,
      stateDir,
      imageDir: image,
      memoryMiB: opts.memoryMiB ?? 2048,
      vcpus: opts.vcpus ?? 2,
      sshPort: await freeLoopbackPort(),
      accelerator: opts.accelerator ?? "auto",
      network: "user-restricted",
      isolatedNetwork: "",
      libvirtUri: LIBVIRT_URI,
      bootTimeoutSeconds: Math.floor(BOOT_TIMEOUT_MS / 1000) - 60,
      ...(opts.evidenceDisk ? { evidenceDisk: opts.evidenceDisk } : {}),
      extraDisks,
    });
    const guest = makeTestGuest(plan);
    const created = await runHookText(renderHook(CREATE_HOOK, plan.createValues), { timeoutMs: BOOT_TIMEOUT_MS });
    if (created.code === 0) {
      guest.result = parseHookResult<GuestCreateResult>(created.stdout);
      liveGuests.add(guest);
      return guest;
    }
    lastError = `create hook rc ${created.code}:\n${created.stderr.slice(-6000)}`;
    await guest.destroy();
    if (!/host forwarding rule|Address already in use/i.test(created.stderr)) break;
  }
  throw new Error(`bootTestGuest(${opts.name}): ${lastError}`);
}

function makeTestGuest(plan: GuestPlan): TestGuest {
  const guest: TestGuest = {
    name: plan.domainName,
    connection: plan.connection,
    stateDir: plan.stateDir,
    result: undefined as unknown as GuestCreateResult,
    plan,
    ssh(script, opts = {}) {
      // The production wrapper, with the script itself as the inner hook.
      const text = renderInGuest(plan.connection, script, "fail");
      return runHookText(text, { stdin: opts.stdin, timeoutMs: opts.timeoutMs ?? 10 * 60_000 });
    },
    async runInGuestHook(scriptPath, values, opts = {}) {
      const text = await resolveOutput(inGuestCommand(plan.connection, scriptPath, values, opts.onGuestGone ?? "fail"));
      return runHookText(text, { stdin: opts.stdin, timeoutMs: opts.timeoutMs ?? 10 * 60_000 });
    },
    async copyIn(hostPath, guestPath) {
      const c = plan.connection;
      const copied = await run(
        [
          "scp",
          "-q",
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          `UserKnownHostsFile=${c.knownHostsPath}`,
          "-i",
          c.privateKeyPath,
          "-P",
          String(c.port),
          hostPath,
          `${c.user}@${c.host}:${guestPath}`,
        ],
        { timeoutMs: 10 * 60_000 },
      );
      if (copied.code !== 0) throw new Error(`scp of ${hostPath} to the guest's ${guestPath} failed:\n${copied.stderr}`);
    },
    async destroy() {
      const r = await runHookText(renderHook(DELETE_HOOK, plan.deleteValues), { timeoutMs: DESTROY_TIMEOUT_MS });
      if (r.code !== 0) throw new Error(`delete hook of ${plan.domainName} failed (rc ${r.code}):\n${r.stderr}`);
      liveGuests.delete(guest);
      fs.rmSync(ownerFileOf(plan.stateDir), { force: true });
    },
  };
  return guest;
}
