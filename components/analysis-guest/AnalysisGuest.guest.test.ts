/**
 * The proof: a real analysis guest, booted from the built image through the real create hook, is what
 * the lab promises. From inside it: the forensic modules load, nothing outbound connects, and it has
 * only the disks and NIC it was given. From the host: the forward listens on loopback only, QEMU runs
 * unprivileged, create is idempotent (running: left alone; shut off: started), and delete (twice)
 * leaves nothing behind.
 */
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { parseHookResult, renderHook } from "../../lib/shell";
import {
  BOOT_TIMEOUT_MS,
  bootTestGuest,
  DESTROY_TIMEOUT_MS,
  ensureGuestImage,
  ensureLibvirt,
  freeLoopbackPort,
  LIBVIRT_URI,
  run,
  runHookText,
  TestGuest,
} from "../../test/guest/harness";
import { CREATE_HOOK, GuestCreateResult } from "./plan";
import { hookFile } from "../../lib/hook-file";
import { MAX_IMAGES } from "../../lib/config/schema";

let guest: TestGuest;
let evidenceDir: string;
const timings: Record<string, number> = {};

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[label] = (Date.now() - started) / 1000;
  }
}

async function host(script: string): Promise<string> {
  const r = await run(["/bin/bash", "-c", script]);
  if (r.code !== 0) throw new Error(`host command failed (rc ${r.code}): ${script}\n${r.stderr}`);
  return r.stdout.trim();
}

async function inGuest(script: string): Promise<string> {
  const r = await guest.ssh(script, { timeoutMs: 5 * 60_000 });
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** The guest's QEMU process id from libvirt's pid file; empty when it is not running. */
const qemuPid = () => host(`cat /run/libvirt/qemu/${guest.name}.pid 2>/dev/null || true`);

// Every step talks to a TCG guest on a shared two-core machine.
jest.setTimeout(10 * 60_000);

beforeAll(
  async () => {
    await ensureLibvirt();
    const imageDir = await timed("image (build or reuse)", ensureGuestImage);
    timings["image build recorded in its manifest"] = JSON.parse(
      fs.readFileSync(path.join(imageDir, "manifest.json"), "utf8"),
    ).buildSeconds;
    // The case storage stand-in; qemu runs as libvirt-qemu, so its folder must be traversable.
    evidenceDir = fs.mkdtempSync(path.join(os.tmpdir(), "analysis-guest-proof-"));
    fs.chmodSync(evidenceDir, 0o711);
    const evidence = path.join(evidenceDir, "evidence.img");
    fs.writeFileSync(evidence, "");
    fs.truncateSync(evidence, 64 << 20);
    guest = await timed("boot (create hook until ssh answers)", () =>
      bootTestGuest({ name: "proof", evidenceDisk: { path: evidence, type: "file" } }),
    );
  },
  BOOT_TIMEOUT_MS + 30 * 60_000,
);

afterAll(async () => {
  await guest?.destroy();
  if (evidenceDir) fs.rmSync(evidenceDir, { recursive: true, force: true });
  console.log(`analysis guest timings (s): ${JSON.stringify(timings, null, 1)}`);
}, DESTROY_TIMEOUT_MS);

test("the accelerator follows the host: TCG (a qemu domain) where kvm_pvm is loaded or /dev/kvm is missing", async () => {
  const expected = fs.existsSync("/sys/module/kvm_pvm") || !fs.existsSync("/dev/kvm") ? "tcg" : "kvm";
  expect(guest.result.accelerator).toBe(expected);
  const domainType = await host(`virsh -c ${LIBVIRT_URI} dumpxml ${guest.name} | sed -n "1s/^<domain type='\\([a-z]*\\)'.*/\\1/p"`);
  expect(domainType).toBe(expected === "kvm" ? "kvm" : "qemu");
  if (expected === "tcg") {
    // Multi-threaded TCG: one thread per vCPU.
    const threads = await host(`cat /proc/${await qemuPid()}/task/*/comm | grep -c 'CPU [0-9]*/TCG'`);
    expect(Number(threads)).toBe(2);
  }
});

test("nbd (with max_part), dm-crypt, dm-mod, loop and fuse load in the guest", async () => {
  const out = await inGuest(`
    set -euo pipefail
    modprobe nbd; modprobe dm-crypt; modprobe dm-mod; modprobe loop; modprobe fuse
    echo "max_part=$(cat /sys/module/nbd/parameters/max_part)"
    echo "nbd_devices=$(ls -d /sys/block/nbd* | wc -l)"
    for m in nbd dm_crypt dm_mod loop fuse; do [[ -d /sys/module/$m ]] && echo "module=$m"; done
  `);
  // The kernel rounds max_part up to 2^n - 1: 8 asked, 15 granted. One nbd device for each image a case may list.
  expect(out.split("\n")).toEqual([
    "max_part=15",
    `nbd_devices=${MAX_IMAGES}`,
    "module=nbd",
    "module=dm_crypt",
    "module=dm_mod",
    "module=loop",
    "module=fuse",
  ]);
});

test("no outbound connection succeeds: not to host ports, not to QEMU's gateway or DNS; no route out", async () => {
  let accepted = 0;
  const listener = net.createServer((socket) => {
    accepted += 1;
    socket.destroy();
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((resolve) => listener.listen(port, "127.0.0.1", resolve));
  try {
    // /dev/tcp connects from the guest; every attempt must fail inside QEMU (restrict=on).
    const out = await inGuest(`
      try() { if timeout 8 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then echo "$1:$2 connected"; else echo "$1:$2 refused"; fi; }
      try 10.0.2.2 ${port}
      try 10.0.2.2 22
      try 10.0.2.3 53
      try 10.0.2.2 80
      ip route get 192.0.2.1 2>&1 | head -1
      ip route get 10.0.3.1 2>&1 | head -1
      ip route show default | wc -l
      ip -6 addr show | wc -l
      grep -c '^nameserver' /etc/resolv.conf || true
    `);
    expect(out.split("\n")).toEqual([
      `10.0.2.2:${port} refused`,
      "10.0.2.2:22 refused",
      "10.0.2.3:53 refused",
      "10.0.2.2:80 refused",
      "RTNETLINK answers: Network is unreachable",
      "RTNETLINK answers: Network is unreachable",
      "0",
      "0",
      "0",
    ]);
    expect(accepted).toBe(0);
  } finally {
    listener.close();
  }
});

test("only the expected devices: root, read-only seed, evidence, one virtio NIC; no USB, display, sound, shares", async () => {
  // Hardware only: loop (major 7) and nbd (43) devices are the kernel's, made by the modules above.
  const disks = await inGuest("lsblk -dn -e 7,43 -o NAME,SERIAL,RO,TYPE");
  expect(disks.split("\n").map((l) => l.trim().split(/\s+/))).toEqual([
    ["vda", "0", "disk"],
    ["vdb", "forensic-seed", "1", "disk"],
    ["vdc", "forensic-evidence", "0", "disk"],
  ]);
  expect(await inGuest("readlink -f /dev/disk/by-id/virtio-forensic-evidence")).toBe("/dev/vdc");
  // virtio device ids: 1 net, 2 block (3 console, 4 rng, 5 balloon, 9 9p, 26 virtiofs must be absent).
  const virtio = await inGuest("cat /sys/bus/virtio/devices/*/device | sort");
  expect(virtio.split("\n")).toEqual(["0x0001", "0x0002", "0x0002", "0x0002"]);
  // PCI classes: no USB controller (0c03), display (03xx), multimedia (04xx).
  const classes = await inGuest("cat /sys/bus/pci/devices/*/class | sort -u");
  expect(classes.split("\n").filter((c) => /^0x(0c03|03|04)/.test(c))).toEqual([]);
  expect(await inGuest("ls /sys/class/net | sort")).toBe("enp0s16\nlo");
  expect(await inGuest("findmnt -rn -t 9p,virtiofs,nfs,cifs,fuse.sshfs | wc -l")).toBe("0");
  // The seed is read-only to the guest's kernel, whatever a process tries.
  const write = await guest.ssh("dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>&1");
  expect(write.code).not.toBe(0);
});

test("sshd: root by key only, no forwarding; examiner is uid 1000; root's shell is bash", async () => {
  const config = await inGuest(
    "sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication|permitrootlogin|allowtcpforwarding|allowagentforwarding|x11forwarding|permittunnel|usepam) ' | sort",
  );
  expect(config.split("\n")).toEqual([
    "allowagentforwarding no",
    "allowtcpforwarding no",
    "kbdinteractiveauthentication no",
    "passwordauthentication no",
    "permitrootlogin without-password",
    "permittunnel no",
    "usepam no",
    "x11forwarding no",
  ]);
  expect(await inGuest("id -u examiner; id -g examiner; getent passwd root | cut -d: -f7")).toBe("1000\n1000\n/bin/bash");
  // The host key the guest serves is the one the host generated and pinned.
  expect(await inGuest("cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).toBe(guest.result.hostKey);
});

test("sshd takes the connections a whole case opens at once: none dropped at random (MaxStartups)", async () => {
  // Each image's hooks run in parallel, each one ssh connection (an sshfs transfer, two): room for two per image.
  const [begin, , full] = (await inGuest("sshd -T | grep '^maxstartups '")).split(" ")[1].split(":").map(Number);
  expect(begin).toBeGreaterThanOrEqual(2 * MAX_IMAGES);
  expect(full).toBeGreaterThanOrEqual(2 * MAX_IMAGES);
  // sshd's default (10:30:100) drops some of these: 40 connections started together, each must connect.
  const results = await Promise.all(Array.from({ length: 40 }, () => guest.ssh("true", { timeoutMs: 5 * 60_000 })));
  expect(results.map((r) => (r.code === 0 ? "ok" : r.stderr.trim()))).toEqual(Array(40).fill("ok"));
});

test("on the host: the forward listens on 127.0.0.1 only, QEMU runs as libvirt-qemu with restrict=on", async () => {
  const pid = await qemuPid();
  expect(pid).toMatch(/^[0-9]+$/);
  const listening = await host(`ss -Hltnp | grep 'pid=${pid},' | awk '{print $4}' | sort -u`);
  expect(listening.split("\n")).toEqual([`127.0.0.1:${guest.connection.port}`]);
  expect(await host(`ps -o user= -p ${pid}`)).toBe("libvirt-qemu");
  const cmdline = await host(`tr '\\0' ' ' </proc/${pid}/cmdline`);
  expect(cmdline).toContain(`restrict=on,hostfwd=tcp:127.0.0.1:${guest.connection.port}-:22`);
  // The shared base stays root's, read-only and immutable while QEMU (libvirt-qemu) uses it.
  const base = JSON.parse(await host(`qemu-img info -U --output=json ${guest.plan.domain.overlayPath}`))["backing-filename"];
  expect(base).toMatch(/^\/.*\/[0-9a-f]{16}\/rootfs\.qcow2$/);
  expect(await host(`stat -c '%U:%G %a' ${base}`)).toBe("root:root 444");
  expect(await host(`lsattr ${base} | cut -c5`)).toBe("i");
});

test(
  "create again: a running guest is left alone (same QEMU process, same keys)",
  async () => {
    const pidBefore = await qemuPid();
    const keyBefore = fs.readFileSync(guest.connection.privateKeyPath, "utf8");
    const again = await runHookText(renderHook(CREATE_HOOK, guest.plan.createValues), { timeoutMs: BOOT_TIMEOUT_MS });
    expect(again.code).toBe(0);
    const result = parseHookResult<GuestCreateResult>(again.stdout);
    expect(result.outcome).toBe("running");
    expect(result.hostKey).toBe(guest.result.hostKey);
    expect(await qemuPid()).toBe(pidBefore);
    expect(fs.readFileSync(guest.connection.privateKeyPath, "utf8")).toBe(keyBefore);
  },
  BOOT_TIMEOUT_MS,
);

test(
  "create on a defined but shut-off guest starts it, with the same keys",
  async () => {
    const pidBefore = await qemuPid();
    await host(`virsh -c ${LIBVIRT_URI} destroy ${guest.name}`);
    expect(await host(`virsh -c ${LIBVIRT_URI} domstate ${guest.name}`)).toBe("shut off");
    const started = await timed("start of a shut-off guest", () =>
      runHookText(renderHook(CREATE_HOOK, guest.plan.createValues), { timeoutMs: BOOT_TIMEOUT_MS }),
    );
    expect(started.code).toBe(0);
    const result = parseHookResult<GuestCreateResult>(started.stdout);
    expect(result.outcome).toBe("started");
    expect(result.hostKey).toBe(guest.result.hostKey);
    expect(await qemuPid()).not.toBe(pidBefore);
    expect(await inGuest("echo ok")).toBe("ok");
  },
  BOOT_TIMEOUT_MS,
);

test(
  "delete twice: no domain, no QEMU, no overlay, seed, keys, known_hosts or logs are left",
  async () => {
    const { plan } = guest;
    await timed("delete", () => guest.destroy());
    await guest.destroy();
    const domains = await host(`virsh -c ${LIBVIRT_URI} list --all --name`);
    expect(domains.split("\n")).not.toContain(guest.name);
    expect(await qemuPid()).toBe("");
    for (const file of [
      plan.domain.overlayPath,
      plan.domain.seedPath,
      plan.domain.kernelPath,
      plan.domain.consoleLogPath,
      plan.privateKeyPath,
      plan.hostKeyPath,
      plan.knownHostsPath,
      `/var/log/libvirt/qemu/${guest.name}.log`,
    ]) {
      expect({ file, exists: fs.existsSync(file) }).toEqual({ file, exists: false });
    }
    expect(fs.existsSync(plan.stateDir)).toBe(false);
    // The guest is gone for in-guest hooks too: a delete hook counts that as nothing to undo.
    const gone = await guest.runInGuestHook(
      hookFile("analysis-guest", "host-detect-accelerator.sh"),
      { ACCELERATOR: "tcg", KVM_DEVICE: "/dev/kvm", PVM_MODULE: "/x" },
      { onGuestGone: "succeed" },
    );
    expect(gone.code).toBe(0);
    expect(gone.stderr).toContain("is gone; nothing to undo inside it");
  },
  DESTROY_TIMEOUT_MS * 2,
);
