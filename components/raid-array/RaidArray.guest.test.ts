/**
 * RaidArray in a real analysis guest (one boot for the file), over NbdAttachment: md arrays whose
 * members lie in several images, made here with mdadm on loop devices (the host has no device-mapper),
 * then detached and made read-only. Each array is judged against md's own assembly at making time: the
 * sha256 of the whole array device must be the same, complete or degraded, and not a sector may be
 * written on any member's nbd device. Every step runs the exact command text the components render (from
 * a mocked Pulumi run) through the real in-guest ssh wrapper.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LOCAL_COMMAND } from "../../lib/tokens";
import { innerHook, readRenderedHook } from "../../lib/rendered-hook";
import { parseHookResult, renderHook, renderInGuest, RESULT_MARKER } from "../../lib/shell";
import { MockRun, setupMocks } from "../../test/mocks";
import {
  bootTestGuest,
  commandReader,
  succeeded,
  BOOT_TIMEOUT_MS,
  DESTROY_TIMEOUT_MS,
  runHookText,
  TestGuest,
  HookCommands,
  ARRAY_STAND_IN,
} from "../../test/guest/harness";
import { ARRAY_RELEASE_SECONDS, DETACH_HOOK, type AttachResult } from "../nbd-attachment/plan";
import type { MountResult } from "../partition-mount/plan";
import type { ArrayResult } from "./plan";

jest.setTimeout(10 * 60_000);

const DIR = "/srv/evidence/raid 'x' $(id)";
let guest: TestGuest;
let mocks: MockRun;
let components: {
  NbdAttachment: typeof import("../nbd-attachment/NbdAttachment").NbdAttachment;
  PartitionMount: typeof import("../partition-mount/PartitionMount").PartitionMount;
  RaidArray: typeof import("./RaidArray").RaidArray;
};
/** md's own view at making time: the sha256 of each array device. */
let madeSums: Record<string, string>;
let imageSums: string;
/** Image name -> its nbd device, attached once for the whole file. */
const devices: Record<string, string> = {};
/** Image name -> its attachment's commands. */
const attachments: Record<string, HookCommands> = {};
const detaches: string[] = [];

/**
 * An 8 MiB member with an md 1.2 superblock written here (at sector 8, checksum as mdadm computes it),
 * for what mdadm never writes: a hostile image's superblock. A RAID5 member, role 0 of 3, unless told.
 */
function craftedMember(fields: { level?: number; chunk?: number; raidDisks?: number; dataSize?: number }): Buffer {
  const sb = Buffer.alloc(4096);
  const u32 = (word: number, value: number) => sb.writeUInt32LE(value >>> 0, word * 4);
  const u64 = (word: number, value: number) => sb.writeBigUInt64LE(BigInt(value), word * 4);
  const maxDev = 4;
  u32(0, 0xa92b4efc);
  u32(1, 1);
  [0x0badcafe, 0x11111111, 0x22222222, 0x33333333].forEach((w, k) => u32(4 + k, w)); // the array's UUID
  u32(18, fields.level ?? 5);
  u32(19, 2);
  u64(20, 12288);
  u32(22, fields.chunk ?? 128);
  u32(23, fields.raidDisks ?? 3);
  u64(32, 2048); // data offset
  u64(34, fields.dataSize ?? 14336);
  u64(36, 8); // where the superblock lies
  u64(48, 1_700_000_000); // update time
  u64(50, 10); // events
  u32(55, maxDev);
  [0, 1, 2, 0xffff].forEach((role, slot) => sb.writeUInt16LE(role, 256 + 2 * slot));
  let sum = 0n;
  for (let w = 0; w < 64 + maxDev / 2; w++) if (w !== 54) sum += BigInt(sb.readUInt32LE(w * 4));
  u32(54, Number(((sum & 0xffffffffn) + (sum >> 32n)) & 0xffffffffn));
  const image = Buffer.alloc(8 * 1024 * 1024);
  sb.copy(image, 8 * 512);
  return image;
}
/** Crafted members, by image name. */
const CRAFTED: Record<string, Buffer> = {
  "claims-all": craftedMember({ raidDisks: 0xffffffff }),
  "no-chunk": craftedMember({ chunk: 0 }),
  overlong: craftedMember({ dataSize: 20000 }),
};

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
async function sh(script: string): Promise<string> {
  const r = await guest.ssh(script, { timeoutMs: 8 * 60_000 });
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const commandsOf = commandReader(() => mocks, "r");
const run = (text: string) => runHookText(text, { timeoutMs: 8 * 60_000 });

/** The array's commands over members given as [image, partition]. */
const arrayOf = (name: string, members: [string, number][]) =>
  commandsOf(
    (n) =>
      new components.RaidArray(n, {
        guest: guest.connection,
        name,
        members: members.map(([image, partition]) => ({
          nbdDevice: devices[image],
          partition,
          label: `image ${image} partition ${partition}`,
        })),
        readOnly: true,
      }),
    "assemble",
  );

/** Every device-mapper mapping and every md device in the guest. */
async function mappings(): Promise<string[]> {
  return (await sh("dmsetup ls | awk '$1 != \"No\" { print $1 }'; ls /sys/block | grep '^md' || true")).split("\n").filter(Boolean).sort();
}
/** Sectors written, discards and flush-writes on every attached image since attach. */
async function writtenEverywhere(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [image, device] of Object.entries(devices)) {
    const f = (await sh(`sync; cat /sys/block/${device.slice(5)}/stat`)).trim().split(/\s+/).map(Number);
    out[image] = [f[6], f[11] ?? 0, f[13] ?? 0];
  }
  return out;
}
const noWrites = () => Object.fromEntries(Object.keys(devices).map((image) => [image, [0, 0, 0]]));

/** Opens, checks the array device against md's, removes, and checks nothing is left or written. */
async function openAndCompare(c: HookCommands, made: string): Promise<ArrayResult> {
  const r = parseHookResult<ArrayResult>(succeeded(await run(c.create)).stdout);
  expect((await sh(`sha256sum ${r.device}`)).split(" ")[0]).toBe(madeSums[made]);
  const ro = await sh(
    `for d in /dev/mapper/fl-array-* /dev/md_fl_*; do [ -e $d ] && cat /sys/class/block/$(basename $(readlink -f $d))/ro; done; true`,
  );
  expect(new Set(ro.trim().split("\n"))).toEqual(new Set(["1"]));
  // Again: kept as it is.
  expect(parseHookResult<ArrayResult>(succeeded(await run(c.create)).stdout)).toEqual(r);
  succeeded(await run(c.delete));
  succeeded(await run(c.delete));
  expect(await mappings()).toEqual([]);
  expect(await writtenEverywhere()).toEqual(noWrites());
  return r;
}

/** Refused by name: the assemble hook fails with `refusal` and nothing is left mapped. */
async function refused(name: string, members: [string, number][], refusal: RegExp): Promise<void> {
  const r = await run((await arrayOf(name, members)).create);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(refusal);
  expect(await mappings()).toEqual([]);
}

beforeAll(
  async () => {
    mocks = await setupMocks({
      outputsFor: (a) =>
        a.type !== LOCAL_COMMAND
          ? undefined
          : a.name.endsWith("-attach")
            ? { stdout: `${RESULT_MARKER}${JSON.stringify({ device: "/dev/nbd0", sectorSize: 512, label: null, partitions: [] })}` }
            : a.name.endsWith("-assemble")
              ? { stdout: `${RESULT_MARKER}${JSON.stringify(ARRAY_STAND_IN)}` }
              : a.name.endsWith("-mount")
                ? { stdout: `${RESULT_MARKER}${JSON.stringify({ mounts: [], skipped: [] })}` }
                : undefined,
    });
    components = {
      NbdAttachment: (await import("../nbd-attachment/NbdAttachment")).NbdAttachment,
      PartitionMount: (await import("../partition-mount/PartitionMount")).PartitionMount,
      RaidArray: (await import("./RaidArray")).RaidArray,
    };
    guest = await bootTestGuest({ name: "raid" });
    // mdadm makes the evidence; the analysis guest has none on purpose, so the host's is copied in.
    await guest.copyIn("/usr/sbin/mdadm", "/usr/local/sbin/mdadm");
    const made = await sh(
      `set -euo pipefail; mkdir -p ${q(DIR)}; cd ${q(DIR)}; work=$(mktemp -d)
       mkdir "$work/files"; head -c 3000000 /dev/urandom > "$work/files/big.bin"; echo "on the NAS" > "$work/files/note.txt"
       echo "big.bin $(sha256sum < "$work/files/big.bin" | cut -d' ' -f1)"
       # A NAS: disk1..disk3 each GPT with p1 (its system) and p2, a RAID5 member (md 1.2, 64 KiB chunks).
       for d in disk1 disk2 disk3; do truncate -s 48M $d.raw; printf 'label: gpt\\nsize=4MiB\\nsize=40MiB\\n' | sfdisk -q $d.raw; done
       l1=$(losetup -f --show -P disk1.raw); l2=$(losetup -f --show -P disk2.raw); l3=$(losetup -f --show -P disk3.raw)
       mdadm --create /dev/md100 --run --quiet --metadata=1.2 --level=5 --chunk=64 --raid-devices=3 "\${l1}p2" "\${l2}p2" "\${l3}p2"
       mdadm --wait /dev/md100 || true
       mkfs.ext4 -q -d "$work/files" /dev/md100; sync; echo "nas $(sha256sum < /dev/md100 | cut -d' ' -f1)"
       mdadm --stop --quiet /dev/md100
       # A member that left: disk3 copied now, then the array runs on and changes.
       cp disk3.raw stale3.raw
       mdadm --assemble --run --quiet /dev/md100 "\${l1}p2" "\${l2}p2" "\${l3}p2"
       # (a second apart at least: superblocks keep their update time in whole seconds)
       sleep 1.1; mkdir -p /mnt/make; mount /dev/md100 /mnt/make; echo later > /mnt/make/later.txt; umount /mnt/make; sync
       echo "nas-later $(sha256sum < /dev/md100 | cut -d' ' -f1)"; mdadm --stop --quiet /dev/md100
       losetup -d "$l1" "$l2" "$l3"
       # A member that left: copies of the three disks, the array run on the first two alone and changed.
       for d in 1 2 3; do cp --sparse=always disk$d.raw left$d.raw; done
       l1=$(losetup -f --show -P left1.raw); l2=$(losetup -f --show -P left2.raw)
       mdadm --assemble --run --quiet /dev/md100 "\${l1}p2" "\${l2}p2"
       mount /dev/md100 /mnt/make; echo degraded > /mnt/make/degraded.txt; umount /mnt/make; sync
       mdadm --stop --quiet /dev/md100; losetup -d "$l1" "$l2"
       # RAID0 of two whole disks, md 1.0 (the superblock at the end); RAID10 (two near copies) of four.
       truncate -s 24M r0a.raw r0b.raw; a=$(losetup -f --show r0a.raw); b=$(losetup -f --show r0b.raw)
       mdadm --create /dev/md101 --run --quiet --metadata=1.0 --level=0 --chunk=32 --raid-devices=2 "$a" "$b"
       mkfs.ext4 -q -d "$work/files" /dev/md101; sync; echo "stripe $(sha256sum < /dev/md101 | cut -d' ' -f1)"
       mdadm --stop --quiet /dev/md101; losetup -d "$a" "$b"
       truncate -s 16M m1.raw m2.raw m3.raw m4.raw; ls=()
       for m in m1 m2 m3 m4; do ls+=("$(losetup -f --show $m.raw)"); done
       mdadm --create /dev/md102 --run --quiet --metadata=1.2 --level=10 --layout=n2 --chunk=64 --raid-devices=4 "\${ls[@]}"
       mdadm --wait /dev/md102 || true
       mkfs.ext4 -q -d "$work/files" /dev/md102; sync; echo "mirror $(sha256sum < /dev/md102 | cut -d' ' -f1)"
       mdadm --stop --quiet /dev/md102; losetup -d "\${ls[@]}"
       # What device-mapper has no table for: RAID6 (md's default left-symmetric) of four disks, RAID10
       # with two far copies over three, RAID0 over members of different sizes (two zones).
       truncate -s 16M s1.raw s2.raw s3.raw s4.raw f1.raw f2.raw f3.raw z1.raw o1.raw o2.raw o3.raw j1.raw; truncate -s 24M z2.raw j2.raw
       make() { # name level options members...
         local name=$1 level=$2 options=$3 m ls=(); shift 3
         for m in "$@"; do ls+=("$(losetup -f --show $m.raw)"); done
         # shellcheck disable=SC2086
         mdadm --create /dev/md103 --run --quiet --level=$level $options --raid-devices=$# "\${ls[@]}"
         mdadm --wait /dev/md103 || true
         mkfs.ext4 -q -d "$work/files" /dev/md103; sync; echo "$name $(sha256sum < /dev/md103 | cut -d' ' -f1)"
         mdadm --stop --quiet /dev/md103; losetup -d "\${ls[@]}"
       }
       make double 6 "--metadata=1.2 --chunk=64" s1 s2 s3 s4
       make far 10 "--metadata=1.2 --chunk=64 --layout=f2" f1 f2 f3
       make zones 0 "--metadata=1.2 --chunk=64" z1 z2
       # An older server's RAID5 with md 0.90 (the superblocks at the members' ends).
       make old 5 "--metadata=0.90 --chunk=64" o1 o2 o3
       # A JBOD: md linear over two disks of different sizes.
       make jbod linear --metadata=1.2 j1 j2
       chmod 0444 ./*.raw; rm -rf "$work"`,
    );
    madeSums = Object.fromEntries(
      made
        .split("\n")
        .filter((l) => /^[a-z.-]+ [0-9a-f]{64}$/.test(l))
        .map((l) => l.split(" ")),
    );
    expect(Object.keys(madeSums).sort()).toEqual([
      "big.bin",
      "double",
      "far",
      "jbod",
      "mirror",
      "nas",
      "nas-later",
      "old",
      "stripe",
      "zones",
    ]);
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-crafted-"));
    try {
      for (const [name, image] of Object.entries(CRAFTED)) {
        fs.writeFileSync(path.join(scratch, `${name}.raw`), image);
        await guest.copyIn(path.join(scratch, `${name}.raw`), `${DIR}/${name}.raw`);
      }
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
    await sh(`chmod 0444 ${q(DIR)}/*.raw`);
    imageSums = await sh(`cd ${q(DIR)} && sha256sum ./*.raw`);
    for (const image of [
      ...["disk1", "disk2", "disk3", "stale3", "left1", "left2", "left3", "r0a", "r0b", "m1", "m2", "m3", "m4"],
      ...["s1", "s2", "s3", "s4", "f1", "f2", "f3", "z1", "z2", "o1", "o2", "o3", "j1", "j2"],
      ...Object.keys(CRAFTED),
    ]) {
      const nbd = await commandsOf(
        (n) =>
          new components.NbdAttachment(n, { guest: guest.connection, imagePath: `${DIR}/${image}.raw`, format: "raw", readOnly: true }),
        "attach",
      );
      devices[image] = parseHookResult<AttachResult>(succeeded(await run(nbd.create)).stdout).device;
      attachments[image] = nbd;
      detaches.push(nbd.delete);
    }
    expect(await mappings()).toEqual([]);
  },
  BOOT_TIMEOUT_MS + 8 * 60_000,
);

afterAll(async () => {
  if (guest) {
    for (const detach of detaches.reverse()) await run(detach);
    await guest.destroy();
  }
}, DESTROY_TIMEOUT_MS);

describe("a NAS's RAID5 over three images", () => {
  test("complete: dm-raid over the members' data, byte for byte md's array; nothing written", async () => {
    const r = await openAndCompare(
      await arrayOf("nas", [
        ["disk2", 2],
        ["disk1", 2],
        ["disk3", 2],
      ]),
      "nas-later",
    );
    expect(r).toMatchObject({ device: "/dev/mapper/fl-array-nas", metadata: "1.2", level: 5, state: "complete", missingRoles: [] });
    expect(r.detail).toBe("RAID5 (raid5_ls), chunk 64 KiB");
    expect(r.health).toBe("AAA");
    expect(r.members).toEqual([
      { device: `${devices.disk2}p2`, role: 1 },
      { device: `${devices.disk1}p2`, role: 0 },
      { device: `${devices.disk3}p2`, role: 2 },
    ]);
    expect(r.sizeBytes).toBeGreaterThan(70 * 1024 * 1024);
  });

  test("degraded (one disk not imaged): the missing data read from parity, the same bytes", async () => {
    const r = await openAndCompare(
      await arrayOf("nas", [
        ["disk1", 2],
        ["disk3", 2],
      ]),
      "nas-later",
    );
    expect(r).toMatchObject({ state: "degraded", missingRoles: [1], health: "A-A" });
  });

  test("mounted by PartitionMount as partition 0 of the array: the files read back; unmount, then remove", async () => {
    const nas = await arrayOf("nas", [
      ["disk1", 2],
      ["disk3", 2],
    ]);
    const array = parseHookResult<ArrayResult>(succeeded(await run(nas.create)).stdout);
    const mount = await commandsOf(
      (n) =>
        new components.PartitionMount(n, {
          guest: guest.connection,
          arrayDevice: array.device,
          partition: 0,
          mountPoint: "/mnt/forensic/arrays/nas",
          readOnly: true,
        }),
      "mount",
    );
    const m = parseHookResult<MountResult>(succeeded(await run(mount.create)).stdout);
    expect(m.mounts).toEqual([
      expect.objectContaining({ partition: 0, device: array.device, mountPoint: "/mnt/forensic/arrays/nas", filesystem: "ext4" }),
    ]);
    expect(m.mounts[0].options).toEqual(expect.arrayContaining(["ro", "nodev", "nosuid", "noexec"]));
    expect(await sh("cat /mnt/forensic/arrays/nas/note.txt")).toBe("on the NAS\n");
    expect((await sh("sha256sum /mnt/forensic/arrays/nas/big.bin")).split(" ")[0]).toBe(madeSums["big.bin"]);
    // The array cannot go while mounted: an error naming where.
    const busy = await run(nas.delete);
    expect(busy.code).not.toBe(0);
    expect(busy.stderr).toMatch(/raid-array: \/dev\/mapper\/fl-array-nas is still in use \(mounted at: \/mnt\/forensic\/arrays\/nas\)/);
    succeeded(await run(mount.delete));
    expect(await sh("findmnt -rn /mnt/forensic/arrays/nas || echo none")).toBe("none\n");
    succeeded(await run(nas.delete));
    expect(await mappings()).toEqual([]);
    expect(await writtenEverywhere()).toEqual(noWrites());
  });

  test("a member that left the array before (fewer events): an error naming it, nothing mapped", async () => {
    await refused(
      "nas",
      [
        ["left1", 2],
        ["left2", 2],
        ["left3", 2],
      ],
      /raid-array: image left3 partition 2 is older than the other members \(events \d+ < \d+\): it left the array before/,
    );
  });

  test("a disk imaged before the array last ran (md counted its events back down): refused by its update time", async () => {
    await refused(
      "nas",
      [
        ["disk1", 2],
        ["disk2", 2],
        ["stale3", 2],
      ],
      /raid-array: image stale3 partition 2 was last updated at [0-9-]+ [0-9:]+ UTC, another member at [0-9-]+ [0-9:]+ UTC: it missed the array's last run/,
    );
  });

  test("two of three missing: refused by name before anything is mapped", async () => {
    await refused("nas", [["disk1", 2]], /raid-array: RAID5 keeps 1 parity chunk\(s\) a stripe: role\(s\) 1 2 missing, at most 1 may be/);
  });

  test("a member of another array, or a partition that is no member: an error naming it", async () => {
    await refused(
      "nas",
      [
        ["disk1", 2],
        ["r0a", 0],
      ],
      /raid-array: image r0a partition 0 belongs to md array [0-9a-f:]+, image disk1 partition 2 to [0-9a-f:]+: not one array/,
    );
    await refused("nas", [["disk1", 1]], /raid-array: image disk1 partition 1: \/dev\/nbd\d+p1 is no md RAID member/);
  });
});

test("RAID0 of two whole disks (md 1.0): a striped table, byte for byte md's array", async () => {
  const r = await openAndCompare(
    await arrayOf("stripe", [
      ["r0a", 0],
      ["r0b", 0],
    ]),
    "stripe",
  );
  expect(r).toMatchObject({ metadata: "1.0", level: 0, state: "complete", detail: "RAID0, chunk 32 KiB" });
  expect(r.health).toBeUndefined();
  await refused("stripe", [["r0a", 0]], /raid-array: RAID0 has no redundancy: role\(s\) 1 missing/);
});

test("RAID10 with two near copies over four disks, complete and with one of each pair's disks", async () => {
  const all = await openAndCompare(
    await arrayOf("mirror", [
      ["m1", 0],
      ["m2", 0],
      ["m3", 0],
      ["m4", 0],
    ]),
    "mirror",
  );
  expect(all).toMatchObject({ level: 10, state: "complete", detail: "RAID10 (2 near copies), chunk 64 KiB" });
  const half = await openAndCompare(
    await arrayOf("mirror", [
      ["m1", 0],
      ["m4", 0],
    ]),
    "mirror",
  );
  expect(half).toMatchObject({ state: "degraded", missingRoles: [1, 2] });
  // Both copies of one chunk gone: refused by name.
  await refused(
    "mirror",
    [
      ["m1", 0],
      ["m2", 0],
    ],
    /raid-array: RAID10: every copy of roles 2-3 is missing; the array cannot be read/,
  );
});

describe("layouts device-mapper has no table for: md's own code, read-only with no metadata", () => {
  /** The md device's state as md reports it; the array's must be read-only with nothing to sync. */
  const mdState = (md: string) => sh(`cat /sys/block/${md.slice(5)}/md/array_state /sys/block/${md.slice(5)}/ro`);

  test("RAID6 (md's left-symmetric) of four disks: complete, one or two missing, byte for byte md's array", async () => {
    const all = await openAndCompare(
      await arrayOf("double", [
        ["s3", 0],
        ["s1", 0],
        ["s4", 0],
        ["s2", 0],
      ]),
      "double",
    );
    expect(all).toMatchObject({ level: 6, state: "complete", detail: "RAID6 (md left-symmetric), chunk 64 KiB", health: "AAAA" });
    expect(all.mdDevice).toMatch(/^\/dev\/md_fl_[0-9a-f]{8}$/);
    const one = await openAndCompare(
      await arrayOf("double", [
        ["s1", 0],
        ["s3", 0],
        ["s4", 0],
      ]),
      "double",
    );
    expect(one).toMatchObject({ state: "degraded", missingRoles: [1], health: "A-AA" });
    const two = await openAndCompare(
      await arrayOf("double", [
        ["s2", 0],
        ["s4", 0],
      ]),
      "double",
    );
    expect(two).toMatchObject({ state: "degraded", missingRoles: [0, 2], health: "-A-A", mdDevice: all.mdDevice });
  });

  test("while open, md holds the array read-only (array_state readonly, the device ro), and a write is refused", async () => {
    const c = await arrayOf("double", [
      ["s1", 0],
      ["s2", 0],
      ["s4", 0],
    ]);
    const r = parseHookResult<ArrayResult>(succeeded(await run(c.create)).stdout);
    expect(await mdState(r.mdDevice ?? "")).toBe("readonly\n1\n");
    const write = await guest.ssh(`dd if=/dev/zero of=${r.mdDevice} bs=4096 count=1 oflag=direct conv=notrunc`);
    expect(write.code).not.toBe(0);
    succeeded(await run(c.delete));
    expect(await mappings()).toEqual([]);
    expect(await writtenEverywhere()).toEqual(noWrites());
  });

  test("a failure after md started (the array's name taken by another mapping): md stopped, the members unmapped", async () => {
    await sh("dmsetup create --readonly fl-array-double --table '0 8 zero'");
    const r = await run(
      (
        await arrayOf("double", [
          ["s1", 0],
          ["s2", 0],
          ["s3", 0],
        ])
      ).create,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/raid-array: mapping fl-array-double exists with another table/);
    // What this run made went again, newest first; what it found stays.
    expect(await mappings()).toEqual(["fl-array-double"]);
    await sh("dmsetup remove fl-array-double");
    expect(await writtenEverywhere()).toEqual(noWrites());
  });

  test("RAID6 with three of four missing: refused before anything is mapped", async () => {
    await refused("double", [["s2", 0]], /raid-array: RAID6 keeps 2 parity chunk\(s\) a stripe: role\(s\) 0 2 3 missing, at most 2 may be/);
  });

  test("RAID10 with two far copies over three disks, complete and with one missing", async () => {
    const all = await openAndCompare(
      await arrayOf("far", [
        ["f1", 0],
        ["f2", 0],
        ["f3", 0],
      ]),
      "far",
    );
    expect(all).toMatchObject({ level: 10, state: "complete", detail: "RAID10 (1 near, 2 far copies), chunk 64 KiB", health: "AAA" });
    const two = await openAndCompare(
      await arrayOf("far", [
        ["f3", 0],
        ["f1", 0],
      ]),
      "far",
    );
    expect(two).toMatchObject({ state: "degraded", missingRoles: [1], health: "A-A" });
  });

  test("RAID0 over members of different sizes (md's zones)", async () => {
    const r = await openAndCompare(
      await arrayOf("zones", [
        ["z2", 0],
        ["z1", 0],
      ]),
      "zones",
    );
    expect(r).toMatchObject({ level: 0, state: "complete", detail: "RAID0 over members of different sizes (md zones), chunk 64 KiB" });
    expect(r.mdDevice).toMatch(/^\/dev\/md_fl_/);
  });
});

test("RAID5 with md 0.90 superblocks (at the members' ends): complete and degraded, byte for byte md's array", async () => {
  const all = await openAndCompare(
    await arrayOf("old", [
      ["o1", 0],
      ["o2", 0],
      ["o3", 0],
    ]),
    "old",
  );
  expect(all).toMatchObject({ metadata: "0.90", level: 5, state: "complete", detail: "RAID5 (raid5_ls), chunk 64 KiB", health: "AAA" });
  expect(all.uuid).toMatch(/^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/);
  const two = await openAndCompare(
    await arrayOf("old", [
      ["o3", 0],
      ["o2", 0],
    ]),
    "old",
  );
  expect(two).toMatchObject({ metadata: "0.90", state: "degraded", missingRoles: [0], health: "-AA" });
});

test("a JBOD (md linear) over disks of different sizes: a linear table in role order; a missing member refused", async () => {
  const r = await openAndCompare(
    await arrayOf("jbod", [
      ["j2", 0],
      ["j1", 0],
    ]),
    "jbod",
  );
  expect(r).toMatchObject({ level: -1, state: "complete", detail: "linear (JBOD) of 2 members", missingRoles: [] });
  expect(r.health).toBeUndefined();
  expect(r.mdDevice).toBeUndefined();
  await refused("jbod", [["j1", 0]], /raid-array: a linear array \(JBOD\) has no redundancy: role\(s\) 1 missing/);
});

test("hostile superblocks (written here, not by mdadm): each refused by name before anything is mapped", async () => {
  const refusals: Record<string, RegExp> = {
    "claims-all": /raid-array: image claims-all partition 0: its superblock claims 4294967295 devices in the array; not read/,
    "no-chunk": /raid-array: image no-chunk partition 0: its superblock gives RAID5 no chunk size; not opened/,
    overlong: /raid-array: image overlong partition 0: its superblock puts the data at sectors 2048\+20000, which does not fit the device/,
  };
  for (const [image, refusal] of Object.entries(refusals)) await refused("crafted", [[image, 0]], refusal);
  expect(await writtenEverywhere()).toEqual(noWrites());
});

/** An attachment's detach text, waiting `seconds` (not ARRAY_RELEASE_SECONDS) for an array over it to go. */
function detachWaiting(c: HookCommands, seconds: number): string {
  const values = Object.fromEntries(readRenderedHook(innerHook(c.delete)).values);
  return renderInGuest(guest.connection, renderHook(DETACH_HOOK, { ...values, ARRAY_RELEASE_SECONDS: seconds }), "succeed");
}

test("a member's detach waits for the array's removal running beside it (pulumi up --replace of every attachment), and refuses an array that stays", async () => {
  const nas = await arrayOf("nas", [
    ["disk1", 2],
    ["disk2", 2],
    ["disk3", 2],
  ]);
  succeeded(await run(nas.create));
  const member = devices.disk3;
  // The array stays: after the wait, refused, naming the member's mapping; still attached.
  const kept = await run(detachWaiting(attachments.disk3, 2));
  expect(kept.code).not.toBe(0);
  expect(kept.stderr).toContain(`nbd-attachment: ${member} is a member of the lab's md array (fl-array-nas-r2); waiting up to 2 s`);
  expect(kept.stderr).toMatch(
    new RegExp(`refusing to disconnect ${member}, it is still in use[^]*${member}p2 is held by /dev/dm-[0-9]+ \\(fl-array-nas-r2\\)`),
  );
  expect(await sh(`cat /sys/block/${member.slice(5)}/size`)).not.toBe("0\n");
  // The array removed while the detach waits (as a parallel step of the engine would): it detaches.
  const detach = run(attachments.disk3.delete);
  await sh(
    "for i in $(seq 1200); do pgrep -fx 'sleep 0.5' >/dev/null && exit 0; sleep 0.1; done; echo 'the detach never waited' >&2; exit 1",
  );
  succeeded(await run(nas.delete));
  const detached = succeeded(await detach);
  expect(detached.stderr).toContain(`waiting up to ${ARRAY_RELEASE_SECONDS} s for the array to be removed`);
  expect(detached.stderr).toContain(`nbd-attachment: disconnected ${member}`);
  expect(await sh(`cat /sys/block/${member.slice(5)}/size`)).toBe("0\n");
  devices.disk3 = parseHookResult<AttachResult>(succeeded(await run(attachments.disk3.create)).stdout).device;
  expect(await mappings()).toEqual([]);
  expect(await writtenEverywhere()).toEqual(noWrites());
});

test("the images are as they were made", async () => {
  expect(await sh(`cd ${q(DIR)} && sha256sum ./*.raw`)).toBe(imageSums);
});
