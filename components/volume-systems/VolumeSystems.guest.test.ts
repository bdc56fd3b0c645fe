/**
 * VolumeSystems in a real analysis guest (one boot for the whole file), with NbdAttachment below and
 * PartitionMount above: LUKS2 on a partition holding an LVM volume group, LUKS1 on a logical volume, a
 * striped LV over two partitions, a snapshot LV (left closed), a second image whose volume group has the
 * same name and PV UUID, and one whose VG lost a physical volume.
 *
 * The evidence is made here, in the guest (the host has no device-mapper), with cryptsetup and lvm2 on
 * loop devices, then detached and made read-only. Every step runs the exact command text the components
 * render (from a mocked Pulumi run) through the real in-guest ssh wrapper; the keys reach the hook on
 * stdin as the engine would pass them. Judged by the nbd devices' write counters and every image's sha256.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LOCAL_COMMAND } from "../../lib/tokens";
import { parseHookResult, REPO_ROOT, RESULT_MARKER } from "../../lib/shell";
import { MockRun, setupMocks } from "../../test/mocks";
import {
  bootTestGuest,
  commandReader,
  HookCommands,
  succeeded,
  BOOT_TIMEOUT_MS,
  DESTROY_TIMEOUT_MS,
  run as runOnHost,
  runHookText,
  TestGuest,
  ARRAY_STAND_IN,
} from "../../test/guest/harness";
import type { AttachResult } from "../nbd-attachment/plan";
import type { PartitionMountArgs } from "../partition-mount/args";
import type { MountInfo, MountResult } from "../partition-mount/plan";
import { bitlockerEvidence, bitlockerStartupKeyEvidence } from "../../test/support/bitlocker-evidence";
import type { ArrayResult } from "../raid-array/plan";
import type { BitLockerKey, LuksKey } from "./args";
import type { OpenResult } from "./plan";

jest.setTimeout(10 * 60_000);

/** Guest folder of the made evidence; its name is hostile to shells. */
const DIR = "/srv/evidence/volumes 'x' $(id)";
const LAPTOP = `${DIR}/laptop.raw`;
const CLONE = `${DIR}/clone.raw`;
const HALF = `${DIR}/half.raw`;
const PLAIN = `${DIR}/plain.raw`;
const SERVER = `${DIR}/server.raw`;
const SERVER_DAMAGED = `${DIR}/server-damaged.raw`;
const NAS_SYSTEM = `${DIR}/nas-system.raw`;
const NAS_SYSTEM_DAMAGED = `${DIR}/nas-system-damaged.raw`;
const IMAGES = [
  ...[LAPTOP, CLONE, HALF, `${DIR}/other-half.raw`, PLAIN, SERVER, `${DIR}/server-other.raw`, SERVER_DAMAGED],
  ...[NAS_SYSTEM, NAS_SYSTEM_DAMAGED],
];
const P2_KEY = "p2 passphrase: with spaces, 'quotes' and $(id)";
const HOME_KEY = "home\nkey with a line break";

let guest: TestGuest;
let mocks: MockRun;
let components: {
  NbdAttachment: typeof import("../nbd-attachment/NbdAttachment").NbdAttachment;
  PartitionMount: typeof import("../partition-mount/PartitionMount").PartitionMount;
  RaidArray: typeof import("../raid-array/RaidArray").RaidArray;
  VolumeSystems: typeof import("./VolumeSystems").VolumeSystems;
};
let sums: string;

/** A value as one bash word, for the test's own guest commands (hooks get theirs through the prelude). */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function sh(script: string, stdin?: string): Promise<string> {
  const r = await guest.ssh(script, { timeoutMs: 8 * 60_000, stdin });
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The create/delete text (and stdin) of a component's command `<name>-<step>`, from the mocked run. */
const commandsOf = commandReader(() => mocks, "v");

const attach = (imagePath: string) =>
  commandsOf((n) => new components.NbdAttachment(n, { guest: guest.connection, imagePath, format: "raw", readOnly: true }), "attach");

/**
 * Attaches `image` read-only, runs `fn` with its nbd device, and detaches it again whatever happened.
 * When `fn` fails, its error is the one thrown (a detach refused because `fn` left a mapping is only added).
 */
async function withAttached(image: string, fn: (device: string) => Promise<void>): Promise<void> {
  const nbd = await attach(image);
  const device = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
  try {
    await fn(device);
  } catch (err) {
    const detach = await run(nbd.delete);
    if (detach.code !== 0 && err instanceof Error) err.message += `\n(then the detach failed too: ${detach.stderr.trim()})`;
    throw err;
  }
  succeeded(await run(nbd.delete));
}

const volumesOn = (nbdDevice: string, luks: LuksKey[] = [], bitlocker: BitLockerKey[] = []) =>
  commandsOf((n) => new components.VolumeSystems(n, { guest: guest.connection, nbdDevice, luks, bitlocker, readOnly: true }), "open");
const volumesInArray = (arrayDevice: string, luks: LuksKey[] = []) =>
  commandsOf((n) => new components.VolumeSystems(n, { guest: guest.connection, arrayDevice, luks, readOnly: true }), "open");
const mount = (args: Omit<PartitionMountArgs, "guest" | "readOnly">) =>
  commandsOf((n) => new components.PartitionMount(n, { guest: guest.connection, readOnly: true, ...args }), "mount");

const run = (text: string, stdin?: string) => runHookText(text, { timeoutMs: 8 * 60_000, stdin });
const opened = async (c: HookCommands) => parseHookResult<OpenResult>(succeeded(await run(c.create, c.stdin)).stdout);
const mounted = async (c: HookCommands) => parseHookResult<MountResult>(succeeded(await run(c.create)).stdout);

/** Sectors written and discards on an nbd device since attach (field 7, 12 and 14 of its stat). */
async function written(device: string): Promise<number[]> {
  const f = (await sh(`sync; cat /sys/block/${device.slice(5)}/stat`)).trim().split(/\s+/).map(Number);
  return [f[6], f[11] ?? 0, f[13] ?? 0];
}

/** Every dm mapping in the guest, by name. */
async function mappings(): Promise<string[]> {
  return (await sh("dmsetup ls | awk '$1 != \"No\" { print $1 }'")).split("\n").filter(Boolean).sort();
}

const where = (v: { partition?: number; logicalVolume?: string }) => v.logicalVolume ?? `p${v.partition}`;

beforeAll(
  async () => {
    const standIns: Record<string, object> = {
      attach: { device: "/dev/nbd0", sectorSize: 512, label: null, partitions: [] },
      open: { volumes: [], skipped: [] },
      mount: { mounts: [], skipped: [] },
      assemble: ARRAY_STAND_IN,
    };
    mocks = await setupMocks({
      outputsFor: (a) => {
        const standIn = standIns[a.name.slice(a.name.lastIndexOf("-") + 1)];
        return a.type === LOCAL_COMMAND && standIn ? { stdout: `${RESULT_MARKER}${JSON.stringify(standIn)}` } : undefined;
      },
    });
    components = {
      NbdAttachment: (await import("../nbd-attachment/NbdAttachment")).NbdAttachment,
      PartitionMount: (await import("../partition-mount/PartitionMount")).PartitionMount,
      RaidArray: (await import("../raid-array/RaidArray")).RaidArray,
      VolumeSystems: (await import("./VolumeSystems")).VolumeSystems,
    };
    guest = await bootTestGuest({ name: "volumes" });
    // mdadm makes the RAID evidence. The analysis guest has none on purpose (md must never assemble
    // evidence on its own there): the host's, Debian's same release, is copied into this test guest.
    await guest.copyIn("/usr/sbin/mdadm", "/usr/local/sbin/mdadm");

    // The evidence, made with the tools an examiner's suspect used. Fast key derivation: the guest is
    // software-emulated here, and what is tested is opening, not the KDF.
    const fastKdf = "--pbkdf pbkdf2 --pbkdf-force-iterations 1000";
    await sh(
      `set -euo pipefail; mkdir -p ${q(DIR)}; cd ${q(DIR)}; work=$(mktemp -d)
     IFS= read -r -d '' keys || true; p2_key=\${keys%%$'\\x1f'*}; home_key=\${keys#*$'\\x1f'}
     fill() { mkdir -p "$work/$1"; printf '%s\\n' "$2" > "$work/$1/$1.txt"; }
     fill plain "plain partition of the laptop"; fill root "root LV of the laptop"; fill home "home LV of the laptop, inside LUKS1"
     fill striped "striped LV of the laptop"; head -c 1048576 /dev/urandom > "$work/striped/random.bin"
     fill clone "root LV of the clone"; fill local "local LV of the half"
     # The laptop: p1 ext4; p2 LUKS2 -> PV of evidencevg (root; home = LUKS1 -> ext4; rootsnap, a snapshot);
     # p3 + p4 PVs of stripevg (data, striped over both).
     truncate -s 84M laptop.raw
     printf 'label: gpt\\nsize=8MiB\\nsize=48MiB\\nsize=12MiB\\nsize=12MiB\\n' | sfdisk -q laptop.raw
     loop=$(losetup -f --show -P laptop.raw)
     mkfs.ext4 -q -d "$work/plain" "\${loop}p1"
     printf '%s' "$p2_key" | cryptsetup luksFormat -q --type luks2 ${fastKdf} --key-file=- "\${loop}p2"
     printf '%s' "$p2_key" | cryptsetup open --key-file=- "\${loop}p2" make-p2
     pvcreate -q /dev/mapper/make-p2; vgcreate -q -s 1M evidencevg /dev/mapper/make-p2
     lvcreate -q -y -n root -L 12M evidencevg; mkfs.ext4 -q -d "$work/root" /dev/evidencevg/root
     lvcreate -q -y -n home -L 12M evidencevg
     printf '%s' "$home_key" | cryptsetup luksFormat -q --type luks1 ${fastKdf} --key-file=- /dev/evidencevg/home
     printf '%s' "$home_key" | cryptsetup open --key-file=- /dev/evidencevg/home make-home
     mkfs.ext4 -q -d "$work/home" /dev/mapper/make-home; cryptsetup close make-home
     lvcreate -q -y -s -n rootsnap -L 4M evidencevg/root
     pv_uuid=$(pvs --noheadings -o pv_uuid /dev/mapper/make-p2 | tr -d ' ')
     pvcreate -q "\${loop}p3" "\${loop}p4"; vgcreate -q -s 1M stripevg "\${loop}p3" "\${loop}p4"
     lvcreate -q -y -i 2 -I 64k -n data -L 16M stripevg; mkfs.ext4 -q -d "$work/striped" /dev/stripevg/data
     vgchange -q -an evidencevg stripevg; cryptsetup close make-p2; losetup -d "$loop"
     # The clone: a whole-disk PV with the laptop's PV UUID and VG name, and other content.
     truncate -s 24M clone.raw; loop=$(losetup -f --show clone.raw)
     pvcreate -q --uuid "$pv_uuid" --norestorefile "$loop"; vgcreate -q -s 1M evidencevg "$loop"
     lvcreate -q -y -n root -L 12M evidencevg; mkfs.ext4 -q -d "$work/clone" /dev/evidencevg/root
     vgchange -q -an evidencevg; losetup -d "$loop"
     # Half of a volume group: spanvg over half.raw p1 and other-half.raw; "local" lies on half.raw
     # alone, "span" on both. Only half.raw is attached later.
     truncate -s 16M half.raw; printf 'label: gpt\\nsize=12MiB\\n' | sfdisk -q half.raw; truncate -s 12M other-half.raw
     a=$(losetup -f --show -P half.raw); b=$(losetup -f --show other-half.raw)
     pvcreate -q "\${a}p1" "$b"; vgcreate -q -s 1M spanvg "\${a}p1" "$b"
     lvcreate -q -y -n local -L 4M spanvg "\${a}p1"; mkfs.ext4 -q -d "$work/local" /dev/spanvg/local
     lvcreate -q -y -n span -L 12M spanvg
     vgchange -q -an spanvg; losetup -d "$a" "$b"
     # A server disk: p1 one member of a RAID1 (md 1.2; its mirror was not imaged) holding LVM (srvvg/data);
     # p2 a member of a RAID0 whose other member is another disk. A copy with one byte of p1's md
     # superblock changed (the array's name, which the checksum covers).
     fill server "data LV of the server, on a RAID1"
     truncate -s 64M server.raw; printf 'label: gpt\nsize=28MiB\nsize=28MiB\n' | sfdisk -q server.raw; truncate -s 28M server-other.raw
     loop=$(losetup -f --show -P server.raw); other=$(losetup -f --show server-other.raw)
     mdadm --create /dev/md100 --run --quiet --metadata=1.2 --level=1 --raid-devices=2 "\${loop}p1" missing
     pvcreate -q /dev/md100; vgcreate -q -s 1M srvvg /dev/md100; lvcreate -q -y -n data -L 12M srvvg
     mkfs.ext4 -q -d "$work/server" /dev/srvvg/data; vgchange -q -an srvvg; mdadm --stop --quiet /dev/md100
     mdadm --create /dev/md101 --run --quiet --metadata=1.2 --level=0 --raid-devices=2 "\${loop}p2" "$other"
     mdadm --stop --quiet /dev/md101; losetup -d "$loop" "$other"
     cp server.raw server-damaged.raw
     printf 'X' | dd of=server-damaged.raw bs=1 seek=$((1048576 + 4096 + 40)) conv=notrunc status=none
     # A NAS disk's system partition: p1 a member of a RAID1 with md 0.90 (its superblock at the end, as
     # a Synology's system and swap arrays keep it), ext4 straight on the array; its mirror not imaged.
     # A copy with one byte of the superblock's reserved words changed (the checksum covers them).
     fill system "the NAS's system partition, md 0.90"
     truncate -s 24M nas-system.raw; printf 'label: gpt\nsize=20MiB\n' | sfdisk -q nas-system.raw
     loop=$(losetup -f --show -P nas-system.raw)
     mdadm --create /dev/md102 --run --quiet --metadata=0.90 --level=1 --raid-devices=2 "\${loop}p1" missing
     mkfs.ext4 -q -d "$work/system" /dev/md102; mdadm --stop --quiet /dev/md102
     super=$(( ($(blockdev --getsz "\${loop}p1") / 128 * 128 - 128) * 512 + $(partx -g -o START -n 1 "$loop") * 512 ))
     losetup -d "$loop"
     cp nas-system.raw nas-system-damaged.raw
     printf 'X' | dd of=nas-system-damaged.raw bs=1 seek=$((super + 80)) conv=notrunc status=none
     # No volume system at all: ext4 on the whole disk.
     truncate -s 8M plain.raw; mkfs.ext4 -q plain.raw
     chmod 0444 ./*.raw; rm -rf "$work"; sha256sum ./*.raw`,
      `${P2_KEY}\x1f${HOME_KEY}`,
    );
    sums = await sh(`cd ${q(DIR)} && sha256sum ./*.raw`);
    expect(await mappings()).toEqual([]);
  },
  BOOT_TIMEOUT_MS + 8 * 60_000,
);

afterAll(async () => {
  if (guest) await guest.destroy();
}, DESTROY_TIMEOUT_MS);

describe("a laptop: LUKS2 -> LVM on p2, LUKS1 on an LV, a striped LV, a snapshot", () => {
  let nbd: HookCommands;
  let device: string;
  let open: HookCommands;
  let result: OpenResult;
  let mountAll: HookCommands;
  let mounts: MountInfo[];

  test("open: each layer read-only under a name of this device's own; the snapshot left closed, with the reason", async () => {
    nbd = await attach(LAPTOP);
    device = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
    open = await volumesOn(device, [
      { at: 2, key: P2_KEY },
      { at: "evidencevg/home", key: HOME_KEY },
    ]);
    expect(open.stdin).toBeDefined();
    expect(open.create).not.toContain(P2_KEY);
    result = await opened(open);
    const name = device.slice(5);
    expect(result.volumes.map((v) => [where(v), v.layer, v.device])).toEqual([
      ["p2", "luks", `/dev/mapper/fl-${name}-luks-p2`],
      ["evidencevg/home", "lvm", `/dev/mapper/fl-${name}-lvm-evidencevg-home`],
      ["evidencevg/root", "lvm", `/dev/mapper/fl-${name}-lvm-evidencevg-root`],
      ["stripevg/data", "lvm", `/dev/mapper/fl-${name}-lvm-stripevg-data`],
      ["evidencevg/home", "luks", `/dev/mapper/fl-${name}-luks-evidencevg-home`],
    ]);
    expect(result.volumes.find((v) => v.logicalVolume === "stripevg/data")!.detail).toBe("striped");
    expect(result.volumes[0].detail).toMatch(/^LUKS2 aes-xts-plain64$/);
    expect(result.volumes[4].detail).toMatch(/^LUKS1 /);
    expect(result.skipped.map((s) => [where(s), s.layer])).toEqual([["evidencevg/rootsnap", "lvm"]]);
    expect(result.skipped[0].reason).toMatch(/snapshot/);
    // Every mapping is read-only in the kernel, and LVM's own activation made nothing.
    const ro = await sh(`for d in /dev/mapper/fl-${name}-*; do cat /sys/class/block/$(basename $(readlink -f $d))/ro; done`);
    expect(ro.trim().split("\n")).toEqual(["1", "1", "1", "1", "1"]);
    expect((await mappings()).filter((m) => !m.startsWith(`fl-${name}-`))).toEqual([]);
  });

  test("open again: the same volumes, nothing new; with a changed key that does not open it, an error and nothing changed", async () => {
    const before = await mappings();
    expect(await opened(open)).toEqual(result);
    expect(await mappings()).toEqual(before);
    const changed = await volumesOn(device, [
      { at: 2, key: P2_KEY },
      { at: "evidencevg/home", key: "a key changed in the stack, wrong" },
    ]);
    const r = await run(changed.create, changed.stdin);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/LUKS on logical volume evidencevg\/home: it is open, but the key given now does not open it/);
    expect(await mappings()).toEqual(before);
  });

  test("mount all: p1, and each LV through its top layer; the PVs skipped; every file reads back", async () => {
    mountAll = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/laptop", volumes: result.volumes });
    const r = await mounted(mountAll);
    mounts = r.mounts;
    expect(mounts.map((m) => [where(m), m.mountPoint, m.filesystem])).toEqual([
      ["p1", "/mnt/forensic/laptop/p1", "ext4"],
      ["evidencevg/home", "/mnt/forensic/laptop/lvm/evidencevg/home", "ext4"],
      ["evidencevg/root", "/mnt/forensic/laptop/lvm/evidencevg/root", "ext4"],
      ["stripevg/data", "/mnt/forensic/laptop/lvm/stripevg/data", "ext4"],
    ]);
    expect(mounts[1].device).toBe(`/dev/mapper/fl-${device.slice(5)}-luks-evidencevg-home`);
    for (const m of mounts) expect(m.options.slice(0, 1)).toEqual(["ro"]);
    expect(r.skipped.map((s) => [where(s), s.reason])).toEqual([
      ["p2", expect.stringMatching(/LVM2_member/)],
      ["p3", expect.stringMatching(/LVM2_member/)],
      ["p4", expect.stringMatching(/LVM2_member/)],
    ]);
    const root = "/mnt/forensic/laptop";
    expect(
      await sh(
        `cat ${root}/p1/plain.txt ${root}/lvm/evidencevg/root/root.txt ${root}/lvm/evidencevg/home/home.txt ${root}/lvm/stripevg/data/striped.txt`,
      ),
    ).toBe("plain partition of the laptop\nroot LV of the laptop\nhome LV of the laptop, inside LUKS1\nstriped LV of the laptop\n");
    // The striped file spans many 64 KiB stripes on both PVs: e2fsck-free proof the table is right.
    expect(await sh(`cd ${root}/lvm/stripevg/data && sha256sum < random.bin | cut -c1-64 && stat -c %s random.bin`)).toMatch(
      /^[0-9a-f]{64}\n1048576\n$/,
    );
    expect(await sh(`stat -c '%U %a' ${root} ${root}/lvm ${root}/lvm/evidencevg`)).toBe("examiner 500\nexaminer 500\nexaminer 500\n");
  });

  test("a second image whose volume group has the same name and PV UUID shows its own LVs", async () => {
    const cloneNbd = await attach(CLONE);
    const clone = parseHookResult<AttachResult>(succeeded(await run(cloneNbd.create)).stdout).device;
    const cloneOpen = await volumesOn(clone);
    expect(cloneOpen.stdin).toBeUndefined();
    const r = await opened(cloneOpen);
    expect(r.volumes.map((v) => [where(v), v.device, v.over])).toEqual([
      ["evidencevg/root", `/dev/mapper/fl-${clone.slice(5)}-lvm-evidencevg-root`, [clone]],
    ]);
    const one = await mount({ nbdDevice: clone, partition: "evidencevg/root", mountPoint: "/mnt/forensic/clone/root", volumes: r.volumes });
    const m = await mounted(one);
    expect(m.mounts.map((x) => [x.logicalVolume, x.mountPoint])).toEqual([["evidencevg/root", "/mnt/forensic/clone/root"]]);
    expect(await sh("cat /mnt/forensic/clone/root/clone.txt /mnt/forensic/laptop/lvm/evidencevg/root/root.txt")).toBe(
      "root LV of the clone\nroot LV of the laptop\n",
    );
    // Deleting the clone's layers touches none of the laptop's.
    const before = (await mappings()).filter((n) => n.startsWith(`fl-${device.slice(5)}-`));
    succeeded(await run(one.delete));
    succeeded(await run(cloneOpen.delete));
    succeeded(await run(cloneNbd.delete));
    expect((await mappings()).filter((n) => n.startsWith(`fl-${clone.slice(5)}-`))).toEqual([]);
    expect((await mappings()).filter((n) => n.startsWith(`fl-${device.slice(5)}-`))).toEqual(before);
  });

  test("close while mounted fails, naming the mount; nothing is closed", async () => {
    const before = await mappings();
    const r = await run(open.delete);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/still in use.*mounted at: \/mnt\/forensic\/laptop\/lvm/);
    expect(await mappings()).toEqual(before);
  });

  test("unmount, close twice, detach: nothing left; not a sector written; the image unchanged", async () => {
    const counters = await written(device);
    succeeded(await run(mountAll.delete));
    succeeded(await run(open.delete));
    const again = succeeded(await run(open.delete));
    expect(again.stderr).toMatch(/0 mapping\(s\) of .* closed; none left/);
    expect(await mappings()).toEqual([]);
    expect(await written(device)).toEqual(counters);
    expect(counters).toEqual([0, 0, 0]);
    succeeded(await run(nbd.delete));
    expect(await sh("findmnt -rn -o TARGET | grep '^/mnt/forensic' || true")).toBe("");
  });
});

/** An image whose partition 1 is an md member with a changed superblock: refused by name, nothing mapped or written. */
async function refusedByChecksum(image: string): Promise<void> {
  await withAttached(image, async (device) => {
    const r = await run((await volumesOn(device)).create);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/volume-systems: md member at partition 1: its md superblock's checksum does not match/);
    expect(await mappings()).toEqual([]);
    expect(await written(device)).toEqual([0, 0, 0]);
  });
}

describe("a server disk: a RAID1 member holding LVM, and a RAID0 member whose partner was not imaged", () => {
  test("open: the RAID1 data mapped read-only, LVM found inside it; the RAID0 member left closed with the reason", async () => {
    await withAttached(SERVER, async (device) => {
      const name = device.slice(5);
      const open = await volumesOn(device);
      const r = await opened(open);
      expect(r.volumes.map((v) => [where(v), v.layer, v.device, v.over])).toEqual([
        ["p1", "md", `/dev/mapper/fl-${name}-md-p1`, [`${device}p1`]],
        ["srvvg/data", "lvm", `/dev/mapper/fl-${name}-lvm-srvvg-data`, [`/dev/mapper/fl-${name}-md-p1`]],
      ]);
      expect(r.volumes[0].detail).toBe("RAID1 member, md 1.2, device 0 of 2");
      expect(r.skipped).toEqual([
        { partition: 2, layer: "md", reason: expect.stringMatching(/^md level 0 \(an array of 2 devices\) needs its other members/) },
      ]);
      const ro = await sh(`for d in /dev/mapper/fl-${name}-*; do cat /sys/class/block/$(basename $(readlink -f $d))/ro; done`);
      expect(ro.trim().split("\n")).toEqual(["1", "1"]);
      // md assembled nothing: the guest has no md device at all.
      expect(await sh("cat /proc/mdstat 2>/dev/null | grep -c '^md' || true")).toBe("0\n");

      const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/server", volumes: r.volumes });
      const m = await mounted(all);
      expect(m.mounts.map((x) => [where(x), x.device, x.filesystem])).toEqual([
        ["srvvg/data", `/dev/mapper/fl-${name}-lvm-srvvg-data`, "ext4"],
      ]);
      expect(m.skipped.map((x) => [where(x), x.device, x.reason])).toEqual([
        ["p1", `/dev/mapper/fl-${name}-md-p1`, expect.stringMatching(/LVM2_member/)],
        ["p2", `${device}p2`, expect.stringMatching(/linux_raid_member/)],
      ]);
      expect(await sh("cat /mnt/forensic/server/lvm/srvvg/data/server.txt")).toBe("data LV of the server, on a RAID1\n");
      // Opening again keeps what is there.
      expect(await opened(open)).toEqual(r);
      succeeded(await run(all.delete));
      succeeded(await run(open.delete));
      expect((await mappings()).filter((x) => x.startsWith(`fl-${name}-`))).toEqual([]);
      expect(await written(device)).toEqual([0, 0, 0]);
    });
  });

  test("a RAID1 member with md 0.90 (a NAS's system partition): its data mapped and mounted; a changed superblock refused", async () => {
    await withAttached(NAS_SYSTEM, async (device) => {
      const name = device.slice(5);
      const open = await volumesOn(device);
      const r = await opened(open);
      expect(r.volumes.map((v) => [where(v), v.layer, v.device, v.over, v.detail])).toEqual([
        ["p1", "md", `/dev/mapper/fl-${name}-md-p1`, [`${device}p1`], "RAID1 member, md 0.90, device 0 of 2"],
      ]);
      expect(r.skipped).toEqual([]);
      // The data is everything before the superblock: 20 MiB less its last 64 KiB.
      expect(r.volumes[0].sizeBytes).toBeLessThanOrEqual(20 * 1024 * 1024 - 65536);
      const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/nas", volumes: r.volumes });
      const m = await mounted(all);
      expect(m.mounts.map((x) => [where(x), x.device, x.filesystem])).toEqual([["p1", `/dev/mapper/fl-${name}-md-p1`, "ext4"]]);
      expect(await sh("cat /mnt/forensic/nas/p1/system.txt")).toBe("the NAS's system partition, md 0.90\n");
      succeeded(await run(all.delete));
      succeeded(await run(open.delete));
      expect(await mappings()).toEqual([]);
      expect(await written(device)).toEqual([0, 0, 0]);
    });
    await refusedByChecksum(NAS_SYSTEM_DAMAGED);
  });

  test("a member whose md superblock was changed: an error naming it, and nothing left mapped", async () => {
    await refusedByChecksum(SERVER_DAMAGED);
  });
});

describe("LVM thin provisioning (a hypervisor's disks): a thin volume and its thin snapshot, through their pool", () => {
  test("open: the pool opened read_only under both, its parts not offered; mount all reads each; again the same; nothing written", async () => {
    // Beside DIR, not in it: the last test of the file counts DIR's images. Made in this guest on a loop
    // device (thin_check is not in the image: lvm is told not to run it).
    const image = "/srv/evidence/thin 'x' $(id)/thin.img";
    await sh(
      `set -e; lvm_() { local command=$1; shift; lvm "$command" --config 'global { thin_check_executable = "" } devices { use_devicesfile = 0 }' "$@"; }
       mkdir -p ${q(path.posix.dirname(image))}; truncate -s 64M ${q(image)}; loop=$(losetup -f --show ${q(image)})
       lvm_ pvcreate -q $loop; lvm_ vgcreate -q -s 1M thinvg $loop
       lvm_ lvcreate -q --type thin-pool -L 24M -n pool thinvg 2>/dev/null
       lvm_ lvcreate -q -V 40M -T thinvg/pool -n data 2>/dev/null; mkfs.ext4 -q /dev/thinvg/data
       mkdir -p /mnt/make-thin; mount /dev/thinvg/data /mnt/make-thin; echo 'before the snapshot' > /mnt/make-thin/a.txt; umount /mnt/make-thin
       lvm_ lvcreate -q -s -n snap thinvg/data 2>/dev/null
       mount /dev/thinvg/data /mnt/make-thin; echo 'after the snapshot' > /mnt/make-thin/a.txt; umount /mnt/make-thin
       lvm_ vgchange -q -an thinvg; losetup -d $loop; chmod 0444 ${q(image)}`,
    );
    const before = await sh(`sha256sum < ${q(image)}`);
    await withAttached(image, async (device) => {
      const name = device.slice(5);
      const open = await volumesOn(device);
      const r = await opened(open);
      const pool = `/dev/mapper/fl-${name}-lvm-thinvg-pool`;
      expect(r.volumes.map((v) => [where(v), v.layer, v.device, v.over, v.detail])).toEqual([
        ["thinvg/data", "lvm", `/dev/mapper/fl-${name}-lvm-thinvg-data`, [pool], "thin"],
        ["thinvg/snap", "lvm", `/dev/mapper/fl-${name}-lvm-thinvg-snap`, [pool], "thin"],
      ]);
      expect(r.skipped).toEqual([]);
      // dm-thin takes no read-only table: the pool runs in its read_only mode over read-only parts.
      expect(await sh(`dmsetup table ${pool}`)).toMatch(/^0 \d+ thin-pool \S+ \S+ \d+ 0 1 read_only\s*$/);
      expect((await sh(`dmsetup status ${pool}`)).split(" ")).toContain("ro");
      const ro = await sh(
        `for d in /dev/mapper/fl-${name}-*; do echo "\${d##*-lvm-} $(cat /sys/class/block/$(basename $(readlink -f $d))/ro)"; done`,
      );
      // Read-only in the kernel: every mapping but the pool, which has no read-only form.
      expect(ro.trim().split("\n").sort()).toEqual([
        "thinvg-data 1",
        "thinvg-pool 0",
        "thinvg-pool_tdata 1",
        "thinvg-pool_tmeta 1",
        "thinvg-snap 1",
      ]);

      const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/thin", volumes: r.volumes });
      const m = await mounted(all);
      expect(m.mounts.map((x) => [where(x), x.filesystem])).toEqual([
        ["thinvg/data", "ext4"],
        ["thinvg/snap", "ext4"],
      ]);
      expect(await sh("cat /mnt/forensic/thin/lvm/thinvg/data/a.txt /mnt/forensic/thin/lvm/thinvg/snap/a.txt")).toBe(
        "after the snapshot\nbefore the snapshot\n",
      );
      expect(await opened(open)).toEqual(r);
      succeeded(await run(all.delete));
      succeeded(await run(open.delete));
      expect((await mappings()).filter((x) => x.startsWith(`fl-${name}-`))).toEqual([]);
      expect(await written(device)).toEqual([0, 0, 0]);
    });
    expect(await sh(`sha256sum < ${q(image)}`)).toBe(before);
  });
});

/** Each of `files` (name -> sha256) under the mount point `root` in the guest hashes as made. */
async function expectFilesAsMade(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [file, sha256] of Object.entries(files)) expect(await sh(`sha256sum < ${q(`${root}/${file}`)}`)).toBe(`${sha256}  -\n`);
}

describe("a BitLocker volume with Windows' metadata (test/support/bitlocker-evidence.ts), on the whole disk", () => {
  test("opens read-only with its recovery password or passphrase, its files read as made from partition 0 (NTFS), and a wrong key changes nothing", async () => {
    const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-bitlocker-"));
    try {
      const volume = bitlockerEvidence(hostDir);
      // Beside DIR, not in it: the last test of the file counts DIR's images.
      const folder = "/srv/evidence/bitlocker 'x' $(id)";
      const image = `${folder}/bitlocker.raw`;
      await sh(`mkdir -p ${q(folder)}`);
      await guest.copyIn(volume.path, image);
      const before = await sh(`sha256sum < ${q(image)}`);
      await withAttached(image, async (device) => {
        const name = device.slice(5);
        const wrong = await volumesOn(device, [], [{ at: 0, key: "a wrong key" }]);
        const refused = await run(wrong.create, wrong.stdin);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toMatch(/volume-systems: BitLocker on partition 0: the key does not open it/);
        expect(await mappings()).toEqual([]);

        const open = await volumesOn(device, [], [{ at: 0, key: volume.recoveryPassword }]);
        expect(open.create).not.toContain(volume.recoveryPassword);
        const r = await opened(open);
        expect(r.volumes.map((v) => [where(v), v.layer, v.device, v.over])).toEqual([
          ["p0", "bitlocker", `/dev/mapper/fl-${name}-bitlocker-p0`, [device]],
        ]);
        expect(r.volumes[0].detail).toBe("BitLocker version 2 aes-xts-plain64");
        expect(await sh(`cat /sys/class/block/$(basename $(readlink -f /dev/mapper/fl-${name}-bitlocker-p0))/ro`)).toBe("1\n");
        // The user's passphrase opens it too: opening again with it keeps the mapping.
        const withPassphrase = await volumesOn(device, [], [{ at: 0, key: volume.passphrase }]);
        expect(await opened(withPassphrase)).toEqual(r);

        const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/bitlocker", volumes: r.volumes });
        const m = await mounted(all);
        expect(m.skipped).toEqual([]);
        expect(m.mounts.map((x) => [where(x), x.device, x.filesystem])).toEqual([["p0", `/dev/mapper/fl-${name}-bitlocker-p0`, "ntfs"]]);
        // Every sector of the content decrypted with the right key and tweak, the relocated boot sectors included.
        await expectFilesAsMade("/mnt/forensic/bitlocker/p0", volume.files);
        succeeded(await run(all.delete));
        succeeded(await run(open.delete));
        expect(await mappings()).toEqual([]);
        expect(await written(device)).toEqual([0, 0, 0]);
      });
      expect(await sh(`sha256sum < ${q(image)}`)).toBe(before);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
    }
  });
  test("opens read-only with its startup key file (.BEK, given in base64); another .BEK or a passphrase is refused", async () => {
    const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-bitlocker-"));
    try {
      const volume = bitlockerStartupKeyEvidence(hostDir);
      const folder = "/srv/evidence/bitlocker 'x' $(id)";
      const image = `${folder}/bitlocker-bek.raw`;
      await sh(`mkdir -p ${q(folder)}`);
      await guest.copyIn(volume.path, image);
      const before = await sh(`sha256sum < ${q(image)}`);
      await withAttached(image, async (device) => {
        const name = device.slice(5);
        // A startup key of another volume: the same bytes with its key data changed.
        const other = Buffer.from(volume.startupKey);
        other[other.length - 1] ^= 0xff;
        for (const key of [
          { at: 0, key: other.toString("base64"), kind: "startupKey" as const },
          { at: 0, key: volume.startupKey.toString("base64"), kind: "password" as const },
        ]) {
          const wrong = await volumesOn(device, [], [key]);
          const refused = await run(wrong.create, wrong.stdin);
          expect(refused.code).not.toBe(0);
          expect(refused.stderr).toMatch(/volume-systems: BitLocker on partition 0: the key does not open it/);
          expect(await mappings()).toEqual([]);
        }

        const open = await volumesOn(device, [], [{ at: 0, key: volume.startupKey.toString("base64"), kind: "startupKey" }]);
        const r = await opened(open);
        expect(r.volumes.map((v) => [where(v), v.layer, v.device])).toEqual([["p0", "bitlocker", `/dev/mapper/fl-${name}-bitlocker-p0`]]);
        const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/bitlocker-bek", volumes: r.volumes });
        const m = await mounted(all);
        expect(m.mounts.map((x) => [where(x), x.device, x.filesystem])).toEqual([["p0", `/dev/mapper/fl-${name}-bitlocker-p0`, "ntfs"]]);
        await expectFilesAsMade("/mnt/forensic/bitlocker-bek/p0", volume.files);
        succeeded(await run(all.delete));
        succeeded(await run(open.delete));
        expect(await mappings()).toEqual([]);
        expect(await written(device)).toEqual([0, 0, 0]);
      });
      expect(await sh(`sha256sum < ${q(image)}`)).toBe(before);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
    }
  });

  test("on partition 2 of a GPT disk, as Windows lays out a system disk: opened by its passphrase and mounted as p2", async () => {
    const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-bitlocker-"));
    try {
      const volume = bitlockerEvidence(hostDir);
      // p1 a small EFI system partition (empty), p2 the BitLocker volume, sector for sector.
      const disk = path.join(hostDir, "windows-disk.raw");
      const volumeSectors = fs.statSync(volume.path).size / 512;
      fs.writeFileSync(disk, "");
      fs.truncateSync(disk, (4096 + volumeSectors + 2048) * 512);
      const layout = `label: gpt\nstart=2048, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=4096, size=${volumeSectors}, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n`;
      const made = spawnSync("bash", [
        "-c",
        'set -e; sfdisk -q "$1" <<<"$2"; dd if="$3" of="$1" bs=512 seek=4096 conv=notrunc status=none',
        "gpt",
        disk,
        layout,
        volume.path,
      ]);
      expect(made.status).toBe(0);
      const image = `${DIR}-bitlocker-gpt/windows-disk.raw`;
      await sh(`mkdir -p ${q(path.posix.dirname(image))}`);
      await guest.copyIn(disk, image);
      const before = await sh(`sha256sum < ${q(image)}`);
      await withAttached(image, async (device) => {
        const name = device.slice(5);
        const open = await volumesOn(device, [], [{ at: 2, key: volume.passphrase }]);
        const r = await opened(open);
        expect(r.volumes.map((v) => [where(v), v.layer, v.device, v.over])).toEqual([
          ["p2", "bitlocker", `/dev/mapper/fl-${name}-bitlocker-p2`, [`${device}p2`]],
        ]);
        const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/bitlocker-gpt", volumes: r.volumes });
        const m = await mounted(all);
        expect(m.mounts.map((x) => [where(x), x.device, x.filesystem])).toEqual([["p2", `/dev/mapper/fl-${name}-bitlocker-p2`, "ntfs"]]);
        await expectFilesAsMade("/mnt/forensic/bitlocker-gpt/p2", volume.files);
        succeeded(await run(all.delete));
        succeeded(await run(open.delete));
        expect(await mappings()).toEqual([]);
        expect(await written(device)).toEqual([0, 0, 0]);
      });
      expect(await sh(`sha256sum < ${q(image)}`)).toBe(before);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
    }
  });
});

describe("bad keys and broken volume groups", () => {
  test("an image without any volume system: nothing opened, nothing skipped, nothing to close", async () => {
    await withAttached(PLAIN, async (device) => {
      const open = await volumesOn(device);
      expect(await opened(open)).toEqual({ volumes: [], skipped: [] });
      expect(succeeded(await run(open.delete)).stderr).toMatch(/0 mapping\(s\) of \/dev\/nbd\d+ closed; none left/);
    });
  });

  test("a wrong key for the LV's LUKS fails naming it, and the layers opened before it are removed again", async () => {
    await withAttached(LAPTOP, async (device) => {
      const open = await volumesOn(device, [
        { at: 2, key: P2_KEY },
        { at: "evidencevg/home", key: "not the key" },
      ]);
      const r = await run(open.create, open.stdin);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/LUKS on logical volume evidencevg\/home: the key does not open it/);
      expect(r.stderr).not.toContain("not the key");
      expect(await mappings()).toEqual([]);

      const wrongP2 = await volumesOn(device, [{ at: 2, key: "wrong" }]);
      const r2 = await run(wrongP2.create, wrongP2.stdin);
      expect(r2.stderr).toMatch(/LUKS on partition 2: the key does not open it/);
      const notLuks = await volumesOn(device, [{ at: 1, key: "any" }]);
      const r3 = await run(notLuks.create, notLuks.stdin);
      expect(r3.stderr).toMatch(/LUKS on partition 1: \/dev\/nbd\d+p1 holds no LUKS header \(blkid: ext4\)/);
      // Where a key points must exist: no partition 7; no partition 0 (the whole disk) on a partitioned disk.
      const absent = await volumesOn(device, [{ at: 7, key: "any" }]);
      expect((await run(absent.create, absent.stdin)).stderr).toContain(`LUKS at partition 7: ${device} has no partition 7`);
      const whole = await volumesOn(device, [], [{ at: 0, key: "any" }]);
      expect((await run(whole.create, whole.stdin)).stderr).toContain(
        `BitLocker at partition 0 (the whole disk): ${device} has a partition table; name a partition from 1`,
      );
      expect(await mappings()).toEqual([]);
      expect(await written(device)).toEqual([0, 0, 0]);
    });
  });

  test("a volume group missing a physical volume: the LV on what is here opens, the one across both is skipped", async () => {
    await withAttached(HALF, async (device) => {
      const open = await volumesOn(device);
      const r = await opened(open);
      expect(r.volumes.map(where)).toEqual(["spanvg/local"]);
      expect(r.skipped).toEqual([
        { logicalVolume: "spanvg/span", layer: "lvm", reason: "a physical volume of it is missing from this image" },
      ]);
      const one = await mount({ nbdDevice: device, partition: "spanvg/local", mountPoint: "/mnt/forensic/half/local", volumes: r.volumes });
      await mounted(one);
      expect(await sh("cat /mnt/forensic/half/local/local.txt")).toBe("local LV of the half\n");
      const span = await mount({ nbdDevice: device, partition: "spanvg/span", mountPoint: "/mnt/forensic/half/span", volumes: r.volumes });
      const refused = await run(span.create);
      expect(refused.stderr).toMatch(/logical volume spanvg\/span is not open on \/dev\/nbd\d+ \(VolumeSystems opened: spanvg\/local\)/);
      succeeded(await run(one.delete));
      succeeded(await run(open.delete));
      expect(await written(device)).toEqual([0, 0, 0]);
    });
    expect(await mappings()).toEqual([]);
  });

  test("names from the evidence that LVM would never allow are refused: nothing mapped, nothing mounted", async () => {
    // Hostile metadata can carry any bytes as names, and lvm2's tools refuse to write such names, so a
    // shim in front of lvm rewrites its report: the clone's VG becomes "../../etc", its LV "$(id)".
    const shim = `#!/bin/bash\n/usr/sbin/lvm "$@" | sed -e 's|"evidencevg"|"../../etc"|g' -e 's|"root"|"$(id)"|g'\n`;
    await sh('cat > /usr/local/sbin/lvm && chmod 0755 /usr/local/sbin/lvm && [ "$(command -v lvm)" = /usr/local/sbin/lvm ]', shim);
    const nbd = await attach(CLONE);
    const device = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
    try {
      const open = await volumesOn(device);
      const r = await opened(open);
      expect(r.volumes).toEqual([]);
      expect(r.skipped).toEqual([
        { layer: "lvm", reason: "the volume group or logical volume name ../../etc/\\$\\(id\\) is not a name LVM allows; not opened" },
      ]);
      expect(await mappings()).toEqual([]);
      succeeded(await run(open.delete));
    } finally {
      await sh("rm -f /usr/local/sbin/lvm");
      succeeded(await run(nbd.delete));
    }
  });

  test("every image's sha256 is what it was when made", async () => {
    expect(await sh(`cd ${q(DIR)} && sha256sum ./*.raw`)).toBe(sums);
    expect(sums.trim().split("\n")).toHaveLength(IMAGES.length);
  });
});

describe("the CI's laptop disk, made on the host without device-mapper (scripts/make-volume-evidence.sh)", () => {
  test('opens with its two keys, mounts by "all" and reads back what the script wrote; nothing written', async () => {
    const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-volumes-"));
    try {
      const made = await runOnHost(["bash", path.join(REPO_ROOT, "scripts/make-volume-evidence.sh"), hostDir], { timeoutMs: 5 * 60_000 });
      if (made.code !== 0) throw new Error(`make-volume-evidence.sh failed:\n${made.stderr}`);
      const manifest = JSON.parse(fs.readFileSync(path.join(hostDir, "volumes.json"), "utf8")) as {
        sha256: string;
        keys: Record<string, string>;
        files: { at: string; path: string; text: string }[];
      };
      const image = `${DIR}/host-made laptop.raw`;
      await guest.copyIn(path.join(hostDir, "laptop.raw"), image);
      expect(await sh(`sha256sum < ${q(image)} | cut -c1-64`)).toBe(`${manifest.sha256}\n`);

      const nbd = await attach(image);
      const device = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
      const open = await volumesOn(
        device,
        Object.entries(manifest.keys).map(([at, key]) => ({ at: /^[0-9]+$/.test(at) ? Number(at) : at, key })),
      );
      const r = await opened(open);
      expect(r.volumes.map((v) => [where(v), v.layer])).toEqual([
        ["p2", "luks"],
        ["evidencevg/home", "lvm"],
        ["evidencevg/root", "lvm"],
        ["evidencevg/home", "luks"],
      ]);
      const all = await mount({ nbdDevice: device, partition: "all", mountRoot: "/mnt/forensic/host-made", volumes: r.volumes });
      const m = await mounted(all);
      const pathOf = (at: string) => (at.includes("/") ? `/mnt/forensic/host-made/lvm/${at}` : `/mnt/forensic/host-made/${at}`);
      expect(m.mounts.map((x) => where(x)).sort()).toEqual(manifest.files.map((f) => f.at).sort());
      for (const f of manifest.files) expect(await sh(`cat ${q(`${pathOf(f.at)}/${f.path}`)}`)).toBe(f.text);
      succeeded(await run(all.delete));
      succeeded(await run(open.delete));
      expect(await written(device)).toEqual([0, 0, 0]);
      succeeded(await run(nbd.delete));
      expect(await sh(`sha256sum < ${q(image)} | cut -c1-64`)).toBe(`${manifest.sha256}\n`);
    } finally {
      fs.rmSync(hostDir, { recursive: true, force: true });
    }
  });
});

describe("a NAS's volumes inside md arrays over several images (RaidArray below, VolumeSystems on its mapping)", () => {
  test("Synology's SHR (LVM on RAID5) and QNAP's (LVM thin, LUKS on a thin volume, on RAID0), both VGs vg1000: each array its own LVs, read back; nothing written", async () => {
    // Beside DIR, not in it: the last test of DIR counts its images.
    const folder = "/srv/evidence/nas 'x' $(id)";
    const shareKey = "the share's key: 'quoted', $(id)";
    const made = await sh(
      `set -euo pipefail; mkdir -p ${q(folder)}; cd ${q(folder)}; work=$(mktemp -d); IFS= read -r -d '' key || true
       lvm_() { local command=$1; shift; lvm "$command" --config 'global { thin_check_executable = "" } devices { use_devicesfile = 0 }' "$@"; }
       mkdir "$work/shr" "$work/qnap"; head -c 2000000 /dev/urandom > "$work/shr/photos.bin"; echo "the SHR volume" > "$work/shr/shr.txt"
       echo "the QNAP share, inside LUKS" > "$work/qnap/qnap.txt"; echo "photos.bin $(sha256sum < "$work/shr/photos.bin" | cut -d' ' -f1)"
       truncate -s 24M shr1.raw shr2.raw shr3.raw qnap1.raw qnap2.raw
       # SHR: one RAID5 over the three disks, a PV on it, vg1000/lv over all of it.
       ls=(); for d in shr1 shr2 shr3; do ls+=("$(losetup -f --show $d.raw)"); done
       mdadm --create /dev/md110 --run --quiet --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 "\${ls[@]}"
       mdadm --wait /dev/md110 || true
       lvm_ pvcreate -q /dev/md110; lvm_ vgcreate -q -s 1M vg1000 /dev/md110; lvm_ lvcreate -q -y -n lv -l 100%FREE vg1000
       mkfs.ext4 -q -d "$work/shr" /dev/vg1000/lv; lvm_ vgchange -q -an vg1000; mdadm --stop --quiet /dev/md110; losetup -d "\${ls[@]}"
       # QNAP: RAID0 over two, a PV, vg1000 (the same name) with thin pool tp1 and thin volume data, LUKS2 on data.
       ls=(); for d in qnap1 qnap2; do ls+=("$(losetup -f --show $d.raw)"); done
       mdadm --create /dev/md111 --run --quiet --metadata=1.2 --level=0 --chunk=64 --raid-devices=2 "\${ls[@]}"
       lvm_ pvcreate -q /dev/md111; lvm_ vgcreate -q -s 1M vg1000 /dev/md111
       lvm_ lvcreate -q --type thin-pool -L 28M -n tp1 vg1000 2>/dev/null; lvm_ lvcreate -q -V 32M -T vg1000/tp1 -n data 2>/dev/null
       printf '%s' "$key" | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file=- /dev/vg1000/data
       printf '%s' "$key" | cryptsetup open --key-file=- /dev/vg1000/data make-share
       mkfs.ext4 -q -d "$work/qnap" /dev/mapper/make-share; cryptsetup close make-share
       lvm_ vgchange -q -an vg1000; mdadm --stop --quiet /dev/md111; losetup -d "\${ls[@]}"
       chmod 0444 ./*.raw; rm -rf "$work"`,
      shareKey,
    );
    const photos = /^photos\.bin ([0-9a-f]{64})$/m.exec(made)?.[1];
    const before = await sh(`cd ${q(folder)} && sha256sum ./*.raw`);
    const devices: Record<string, string> = {};
    const detaches: string[] = [];
    try {
      for (const disk of ["shr1", "shr2", "shr3", "qnap1", "qnap2"]) {
        const nbd = await attach(`${folder}/${disk}.raw`);
        devices[disk] = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
        detaches.push(nbd.delete);
      }
      const arrayOf = (name: string, disks: string[]) =>
        commandsOf(
          (n) =>
            new components.RaidArray(n, {
              guest: guest.connection,
              name,
              members: disks.map((disk) => ({ nbdDevice: devices[disk], partition: 0, label: `image ${disk}` })),
              readOnly: true,
            }),
          "assemble",
        );
      const shr = await arrayOf("shr", ["shr2", "shr1", "shr3"]);
      const qnap = await arrayOf("qnap", ["qnap1", "qnap2"]);
      const shrDevice = parseHookResult<ArrayResult>(succeeded(await run(shr.create)).stdout).device;
      const qnapDevice = parseHookResult<ArrayResult>(succeeded(await run(qnap.create)).stdout).device;
      expect([shrDevice, qnapDevice]).toEqual(["/dev/mapper/fl-array-shr", "/dev/mapper/fl-array-qnap"]);

      const shrOpen = await volumesInArray(shrDevice);
      const qnapOpen = await volumesInArray(qnapDevice, [{ at: "vg1000/data", key: shareKey }]);
      const shrVolumes = await opened(shrOpen);
      const qnapVolumes = await opened(qnapOpen);
      // One VG name in both arrays, each read from its own array alone, under names of that array's own.
      expect(shrVolumes.volumes.map((v) => [where(v), v.layer, v.device, v.over])).toEqual([
        ["vg1000/lv", "lvm", "/dev/mapper/fl-array_shr_lvm-vg1000-lv", [shrDevice]],
      ]);
      expect(qnapVolumes.volumes.map((v) => [where(v), v.layer, v.device])).toEqual([
        ["vg1000/data", "lvm", "/dev/mapper/fl-array_qnap_lvm-vg1000-data"],
        ["vg1000/data", "luks", "/dev/mapper/fl-array_qnap_luks-vg1000-data"],
      ]);
      expect([shrVolumes.skipped, qnapVolumes.skipped]).toEqual([[], []]);
      expect(await sh("dmsetup table fl-array_qnap_lvm-vg1000-tp1")).toMatch(/ thin-pool .* read_only\s*$/);
      const ro = await sh(
        "for d in /dev/mapper/fl-array_*; do case $d in *tp1) ;; *) cat /sys/class/block/$(basename $(readlink -f $d))/ro ;; esac; done",
      );
      expect(new Set(ro.trim().split("\n"))).toEqual(new Set(["1"]));
      // Again: the same, nothing new.
      expect(await opened(shrOpen)).toEqual(shrVolumes);
      expect(await opened(qnapOpen)).toEqual(qnapVolumes);

      const shrAll = await mount({
        arrayDevice: shrDevice,
        partition: "all",
        mountRoot: "/mnt/forensic/arrays/shr",
        volumes: shrVolumes.volumes,
      });
      const qnapAll = await mount({
        arrayDevice: qnapDevice,
        partition: "all",
        mountRoot: "/mnt/forensic/arrays/qnap",
        volumes: qnapVolumes.volumes,
      });
      const shrMounts = await mounted(shrAll);
      expect(shrMounts.mounts.map((m) => [where(m), m.device, m.mountPoint, m.filesystem])).toEqual([
        ["vg1000/lv", "/dev/mapper/fl-array_shr_lvm-vg1000-lv", "/mnt/forensic/arrays/shr/lvm/vg1000/lv", "ext4"],
      ]);
      // The array itself holds the PV: reported, not mounted.
      expect(shrMounts.skipped).toEqual([{ partition: 0, device: shrDevice, reason: expect.stringMatching(/LVM2_member/) }]);
      const qnapMounts = await mounted(qnapAll);
      expect(qnapMounts.mounts.map((m) => [where(m), m.device, m.mountPoint])).toEqual([
        ["vg1000/data", "/dev/mapper/fl-array_qnap_luks-vg1000-data", "/mnt/forensic/arrays/qnap/lvm/vg1000/data"],
      ]);
      expect(await sh("cat /mnt/forensic/arrays/shr/lvm/vg1000/lv/shr.txt /mnt/forensic/arrays/qnap/lvm/vg1000/data/qnap.txt")).toBe(
        "the SHR volume\nthe QNAP share, inside LUKS\n",
      );
      expect(await sh("sha256sum < /mnt/forensic/arrays/shr/lvm/vg1000/lv/photos.bin")).toBe(`${photos}  -\n`);

      // Held: neither the volumes nor the array below them can go while mounted; nothing is closed.
      const busy = await run(shrOpen.delete);
      expect(busy.code).not.toBe(0);
      expect(busy.stderr).toContain("fl-array_shr_lvm-vg1000-lv (mounted at: /mnt/forensic/arrays/shr/lvm/vg1000/lv");
      expect((await run(shr.delete)).code).not.toBe(0);
      expect(await mappings()).toEqual(expect.arrayContaining(["fl-array-shr", "fl-array_shr_lvm-vg1000-lv"]));

      for (const step of [shrAll.delete, qnapAll.delete, shrOpen.delete, shrOpen.delete]) succeeded(await run(step));
      // Closing one array's volumes leaves the other's alone (one VG name, two prefixes); then the arrays go.
      const left = (await mappings()).filter((m) => m.startsWith("fl-array_"));
      expect(left).toEqual(expect.arrayContaining(["fl-array_qnap_lvm-vg1000-data", "fl-array_qnap_luks-vg1000-data"]));
      expect(left.filter((m) => !m.startsWith("fl-array_qnap_"))).toEqual([]);
      succeeded(await run(qnapOpen.delete));
      for (const step of [shr.delete, qnap.delete]) succeeded(await run(step));
      expect(await mappings()).toEqual([]);
      for (const device of Object.values(devices)) expect(await written(device)).toEqual([0, 0, 0]);
    } finally {
      for (const detach of detaches.reverse()) await run(detach);
    }
    expect(await sh(`cd ${q(folder)} && sha256sum ./*.raw`)).toBe(before);
  });
});
