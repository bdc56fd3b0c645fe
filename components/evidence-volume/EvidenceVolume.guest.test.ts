/**
 * EvidenceVolume's hooks against a real guest, one boot for everything:
 *
 * - file backend end to end: the host makes the sparse file, the guest attaches it as its evidence
 *   disk, formats LUKS2 (argon2id) and mounts /case; data survives close and reopen; a wrong passphrase
 *   changes nothing; after the guest is gone the host crypto-erases: no keyslot, no header, no magic.
 * - lvm backend: the HOST hooks (lvcreate, format, open, close, erase, lvremove) run unchanged inside
 *   the guest, which plays the host (it has device-mapper, LVM and udev) on a scratch disk made into a
 *   VG; what a compromised guest would plant in the decrypted volume is never probed, linked or
 *   activated by that 'host', nor seen by the lab's LVM commands.
 *
 * While the passphrase is in use, every process's argv and environment on the host and in the guest is
 * watched for it.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HookValue, parseHookResult } from "../../lib/shell";
import { bootTestGuest, BOOT_TIMEOUT_MS, DESTROY_TIMEOUT_MS, ExecResult, runHostHook, TestGuest } from "../../test/guest/harness";
import {
  backingValues,
  BackingResult,
  HOOKS,
  LuksOpenResult,
  luksValues,
  planVolume,
  storageValues,
  StorageMountResult,
  VolumePlan,
} from "./plan";
import { isZero, luksMagicOffsets, sha256Range } from "../../test/support/luks-evidence";
import { watchForSecret } from "../../test/support/secret-watch";

jest.setTimeout(20 * 60_000);

const PASSPHRASE = `vol ${crypto.randomBytes(16).toString("hex")} 'q' $(x)`;
const WRONG = `${PASSPHRASE} but wrong`;
const MIB = 1024 ** 2;
const PV_SERIAL = "vol-pv";
const VG = "volvg";

let dir: string;
let volumeFile: string;
let scratchDisk: string;
let guest: TestGuest;
let guestGone = false;
const timings: Record<string, number> = {};

const filePlan = (): VolumePlan =>
  planVolume({
    caseId: "vol-file",
    backend: "file",
    path: volumeFile,
    sizeGiB: 0.25,
    encrypted: true,
    passphrase: null,
    fastKdfForTestsOnly: true,
  });
const lvmPlan = (extra: object = {}): VolumePlan =>
  planVolume({
    caseId: "vol-lvm",
    backend: "lvm",
    volumeGroup: VG,
    sizeGiB: 0.25,
    encrypted: true,
    passphrase: null,
    fastKdfForTestsOnly: true,
    ...extra,
  });

function ok<T>(r: ExecResult): T {
  if (r.code !== 0) throw new Error(`hook failed (rc ${r.code}):\n${r.stderr}`);
  return parseHookResult<T>(r.stdout);
}

async function timed<T>(label: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[label] = Date.now() - started;
  }
}

const inGuest = (script: string, values: Record<string, HookValue>, stdin?: string) => guest.runInGuestHook(script, values, { stdin });

async function sh(script: string): Promise<string> {
  const r = await guest.ssh(script);
  if (r.code !== 0) throw new Error(`guest command failed (rc ${r.code}): ${script}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vol-guest-"));
  fs.chmodSync(dir, 0o711); // QEMU runs as libvirt-qemu and must reach the disks in here
  volumeFile = path.join(dir, "evidence volume.luks");
  scratchDisk = path.join(dir, "scratch-pv.raw");
  ok<BackingResult>(await runHostHook(HOOKS.backingCreate, backingValues(filePlan()).create));
  fs.writeFileSync(scratchDisk, "");
  fs.truncateSync(scratchDisk, 1024 * MIB);
  guest = await timed("boot", () =>
    bootTestGuest({
      name: "vol-luks",
      evidenceDisk: { path: volumeFile, type: "file" },
      extraDisks: [{ path: scratchDisk, serial: PV_SERIAL }],
    }),
  );
  await sh(`pvcreate -q /dev/disk/by-id/virtio-${PV_SERIAL} && vgcreate -q ${VG} /dev/disk/by-id/virtio-${PV_SERIAL}`);
}, BOOT_TIMEOUT_MS);

afterAll(async () => {
  if (guest && !guestGone) await guest.destroy();
  console.log(`evidence-volume timings (ms, TCG guest, hooks over ssh): ${JSON.stringify(timings)}`);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, DESTROY_TIMEOUT_MS);

describe("lvm backend: the host hooks, run unchanged in a guest playing the host", () => {
  const lv = () => lvmPlan().backingPath;
  const headerHash = async () => (await sh(`head -c ${16 * MIB} ${lv()} | sha256sum`)).split(" ")[0];

  test("lvcreate once, tagged; a second run changes nothing", async () => {
    const plan = lvmPlan();
    const first = ok<BackingResult>(await inGuest(HOOKS.backingCreate, backingValues(plan).create));
    expect(first).toEqual({ backingPath: `/dev/${VG}/forensic-vol-lvm`, sizeBytes: 256 * MIB, created: true, luks: null });
    expect((await sh(`lvs --noheadings -o lv_tags ${VG}/forensic-vol-lvm`)).trim()).toBe("forensic-lab-evidence");
    const uuid = await sh(`lvs --noheadings -o lv_uuid ${VG}/forensic-vol-lvm`);
    const second = ok<BackingResult>(await inGuest(HOOKS.backingCreate, backingValues(plan).create));
    expect(second.created).toBe(false);
    expect(await sh(`lvs --noheadings -o lv_uuid ${VG}/forensic-vol-lvm`)).toBe(uuid);
  });

  test("format once (LUKS2, argon2id) and open on the 'host'; no process shows the passphrase", async () => {
    const plan = lvmPlan();
    const {
      result,
      host,
      guest: inside,
    } = await watchForSecret(guest, PASSPHRASE, () =>
      timed("lvm: luks-open (format + open, fast KDF)", () => inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE)),
    );
    expect(ok<LuksOpenResult>(result)).toEqual({
      mapperPath: "/dev/mapper/forensic-vol-lvm",
      luksVersion: 2,
      cipher: "aes-xts-plain64",
      keyBits: 512,
      formatted: true,
      opened: true,
    });
    expect(host.hits).toEqual([]);
    expect(inside.hits).toEqual([]);
    expect(host.scans).toBeGreaterThan(5);
    expect(inside.scans).toBeGreaterThan(1);
    expect(await sh(`cryptsetup luksDump ${lv()} | grep -E '^\\s+PBKDF:' | sort -u`)).toMatch(/PBKDF:\s+argon2id\n$/);
    // What the guest would see as its disk: put a filesystem and a file on it through the mount hook.
    const mount = { ...storageValues(plan).mount, DEVICE: "/dev/mapper/forensic-vol-lvm", MOUNT_POINT: "/srv/case-lvm" };
    expect(ok<StorageMountResult>(await inGuest(HOOKS.storageMount, mount)).formatted).toBe(true);
    await sh("echo 'lvm finding' > /srv/case-lvm/finding.txt && sync");
    expect(ok(await inGuest(HOOKS.storageUmount, { MOUNT_POINT: "/srv/case-lvm" }))).toEqual({ unmounted: true });
  });

  test("open again: nothing changes; a wrong passphrase is refused even while open", async () => {
    const plan = lvmPlan();
    const before = await headerHash();
    const again = ok<LuksOpenResult>(
      await timed("lvm: luks-open, already open (passphrase check)", () => inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE)),
    );
    expect(again).toMatchObject({ formatted: false, opened: false });
    const wrong = await inGuest(HOOKS.luksOpen, luksValues(plan).open, WRONG);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe(
      `forensic-lab: evidence volume: wrong passphrase for the existing evidence volume ${lv()}; nothing was changed`,
    );
    expect(await headerHash()).toBe(before);
  });

  test("erase refuses while the mapping is open, and leaves it intact", async () => {
    const r = await inGuest(HOOKS.backingDelete, backingValues(lvmPlan()).delete);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${lv()} is still in use (a LUKS mapping or a guest holds it); close it first`);
    expect((await guest.ssh(`cryptsetup status forensic-vol-lvm`)).code).toBe(0);
  });

  test("close, twice; a wrong passphrase on the closed volume changes nothing", async () => {
    const close = luksValues(lvmPlan()).close;
    expect(ok(await timed("lvm: luks-close", () => inGuest(HOOKS.luksClose, close)))).toEqual({ closed: true });
    expect(ok(await inGuest(HOOKS.luksClose, close))).toEqual({ closed: false });
    const before = await headerHash();
    const wrong = await inGuest(HOOKS.luksOpen, luksValues(lvmPlan()).open, WRONG);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("wrong passphrase for the existing evidence volume");
    expect(await headerHash()).toBe(before);
    expect((await guest.ssh(`cryptsetup status forensic-vol-lvm`)).code).not.toBe(0);
  });

  test("retain: destroy leaves it closed and intact; the next create adopts it and the data is there", async () => {
    const retained = ok(await inGuest(HOOKS.backingDelete, backingValues(lvmPlan({ retain: true })).delete));
    expect(retained).toMatchObject({ erased: false, removed: false });
    expect((await sh(`lvs --noheadings -o lv_active ${VG}/forensic-vol-lvm`)).trim()).toBe("");
    expect(ok<BackingResult>(await inGuest(HOOKS.backingCreate, backingValues(lvmPlan()).create))).toMatchObject({
      created: false,
      luks: { version: 2, cipher: "aes-xts-plain64" },
    });
    expect(ok<LuksOpenResult>(await inGuest(HOOKS.luksOpen, luksValues(lvmPlan()).open, PASSPHRASE))).toMatchObject({
      formatted: false,
      opened: true,
    });
    const mount = { ...storageValues(lvmPlan()).mount, DEVICE: "/dev/mapper/forensic-vol-lvm", MOUNT_POINT: "/srv/case-lvm" };
    expect(ok<StorageMountResult>(await inGuest(HOOKS.storageMount, mount)).formatted).toBe(false);
    expect(await sh("cat /srv/case-lvm/finding.txt")).toBe("lvm finding\n");
    ok(await inGuest(HOOKS.storageUmount, { MOUNT_POINT: "/srv/case-lvm" }));
    ok(await inGuest(HOOKS.luksClose, luksValues(lvmPlan()).close));
  });

  test("what is not ours is never adopted, formatted or erased", async () => {
    await sh(`lvcreate -q -y -L 64m -n forensic-foreign ${VG} && mkfs.ext4 -q /dev/${VG}/forensic-foreign`);
    const foreign = lvmPlan({ caseId: "foreign" });
    const before = (await sh(`sha256sum /dev/${VG}/forensic-foreign`)).split(" ")[0];
    const adopt = await inGuest(HOOKS.backingCreate, { ...backingValues(foreign).create, SIZE_BYTES: 64 * MIB });
    expect(adopt.code).toBe(1);
    expect(adopt.stderr).toContain(
      `${VG}/forensic-foreign exists but was not made by forensic-lab (no tag forensic-lab-evidence); refusing to adopt it`,
    );
    const format = await inGuest(HOOKS.luksOpen, luksValues(foreign).open, PASSPHRASE);
    expect(format.code).toBe(1);
    expect(format.stderr).toContain(`/dev/${VG}/forensic-foreign is not blank (ext4); refusing to format it`);
    const erase = await inGuest(HOOKS.backingDelete, backingValues(foreign).delete);
    expect(erase.code).toBe(1);
    expect(erase.stderr).toContain("was not made by forensic-lab (no tag forensic-lab-evidence); not erasing it");
    expect((await sh(`sha256sum /dev/${VG}/forensic-foreign`)).split(" ")[0]).toBe(before);
    await sh(`lvremove -q -y ${VG}/forensic-foreign`);
  });

  test("users get cryptsetup's benchmarked argon2id, not the test KDF", async () => {
    const strong = lvmPlan({ caseId: "vol-strong", fastKdfForTestsOnly: false });
    ok(await inGuest(HOOKS.backingCreate, { ...backingValues(strong).create, SIZE_BYTES: 64 * MIB }));
    const opened = ok<LuksOpenResult>(
      await timed("lvm: luks-open (format + open, default argon2id)", () => inGuest(HOOKS.luksOpen, luksValues(strong).open, PASSPHRASE)),
    );
    expect(opened.formatted).toBe(true);
    const dump = await sh(`cryptsetup luksDump ${strong.backingPath}`);
    expect(dump).toMatch(/PBKDF:\s+argon2id/);
    const memoryKiB = Number(/Memory:\s+(\d+)/.exec(dump)![1]);
    expect(memoryKiB).toBeGreaterThan(32768);
    ok(await inGuest(HOOKS.luksClose, luksValues(strong).close));
    await timed("lvm: luks-open (open only, default argon2id)", () => inGuest(HOOKS.luksOpen, luksValues(strong).open, PASSPHRASE));
    ok(await inGuest(HOOKS.luksClose, luksValues(strong).close));
    expect(ok(await inGuest(HOOKS.backingDelete, backingValues(strong).delete))).toMatchObject({ erased: true, removed: true });
  });

  test("erase: keyslots destroyed, header zeroed, LV removed; the same extents hold no LUKS and open nothing", async () => {
    const plan = lvmPlan();
    const erased = ok(
      await timed("lvm: backing-delete (erase + lvremove)", () => inGuest(HOOKS.backingDelete, backingValues(plan).delete)),
    );
    expect(erased).toEqual({ backingPath: lv(), erased: true, removed: true, headerBytesWiped: 16 * MIB });
    expect((await guest.ssh(`lvs ${VG}/forensic-vol-lvm`)).code).not.toBe(0);
    expect(ok(await inGuest(HOOKS.backingDelete, backingValues(plan).delete))).toMatchObject({ erased: false, removed: false });
    // The VG is empty again, so a new LV of the same size gets the same extents: look at what is left.
    await sh(`lvcreate -q -y --zero n --wipesignatures n -L 256m -n probe ${VG}`);
    expect((await guest.ssh(`cryptsetup isLuks /dev/${VG}/probe`)).code).not.toBe(0);
    expect((await guest.ssh(`blkid -p /dev/${VG}/probe`)).code).toBe(2);
    const open = await guest.ssh(`cryptsetup open --test-passphrase --key-file=- /dev/${VG}/probe`, { stdin: PASSPHRASE });
    expect(open.code).not.toBe(0);
    expect((await sh(`head -c ${16 * MIB} /dev/${VG}/probe | tr -d '\\0' | wc -c`)).trim()).toBe("0");
    await sh(`lvremove -q -y ${VG}/probe && sync`);
  });
});

describe("lvm backend: the 'host' never parses what the guest writes into the decrypted volume", () => {
  // The guest writes every byte of the open mapping; here the test writes them, as a compromised guest
  // would through its disk. Each check also shows, with the shield taken away by hand, that the attack
  // works on this 'host': a stock Debian host, so the guest image's own LVM-autoactivation block is
  // lifted for these tests.
  const hostile = () => lvmPlan({ caseId: "vol-hostile" });
  const mapper = "/dev/mapper/forensic-vol-hostile";
  const RULE = "/etc/udev/rules.d/12-forensic-lab.rules";
  const IMAGE_LVM_RULE = "/etc/udev/rules.d/69-lvm.rules";
  const UUID = "0badc0de-0000-4000-8000-000000000001";
  const onlyTheMapping = `--config 'devices/global_filter=["a|^${mapper}$|","r|.*|"]'`;
  const exists = async (file: string) => (await guest.ssh(`test -e ${file}`)).code === 0;
  const openHostile = async () => ok<LuksOpenResult>(await inGuest(HOOKS.luksOpen, luksValues(hostile()).open, PASSPHRASE));
  /** Closes the mapping and opens it again without the hooks and without the rule: an unshielded host. */
  async function reopenUnshielded(): Promise<void> {
    await sh(`rm ${RULE} && udevadm control --reload && cryptsetup close forensic-vol-hostile`);
    const open = await guest.ssh(`cryptsetup open --key-file=- ${hostile().backingPath} forensic-vol-hostile`, { stdin: PASSPHRASE });
    expect(open.code).toBe(0);
  }

  /** Waits out the 'host's udev and LVM autoactivation (systemd-run vgchange, asynchronous). */
  async function settledFor(file: string): Promise<boolean> {
    await sh("udevadm settle");
    for (let i = 0; i < 10; i++) {
      if (await exists(file)) return true;
      await new Promise((r) => setTimeout(r, 1000));
    }
    return false;
  }

  beforeAll(async () => {
    await sh(`mv ${IMAGE_LVM_RULE} /root/69-lvm.rules.image && udevadm control --reload`);
  });
  afterAll(async () => {
    await sh(`mv /root/69-lvm.rules.image ${IMAGE_LVM_RULE} && udevadm control --reload`);
  });

  test("a planted filesystem gets no probe and no /dev/disk/by-uuid link; a mapping opened unshielded is shielded again", async () => {
    ok(await inGuest(HOOKS.backingCreate, { ...backingValues(hostile()).create, SIZE_BYTES: 96 * MIB }));
    expect(await openHostile()).toMatchObject({ formatted: true, opened: true });
    expect(await sh(`cat ${RULE}`)).toContain('ATTR{dm/name}=="forensic-?*"');
    await sh(`mkfs.ext4 -q -F -U ${UUID} -L planted ${mapper}`);
    await sh(`udevadm trigger --action=change --settle ${mapper}`);
    expect(await settledFor(`/dev/disk/by-uuid/${UUID}`)).toBe(false);
    const properties = await sh(`udevadm info --query=property --name=${mapper}`);
    expect(properties).not.toMatch(/^ID_FS_/m);
    expect(properties).toMatch(/^SYSTEMD_READY=0$/m);
    // Unshielded (a lab opened by an older version, say), udev links the guest's UUID and label.
    await reopenUnshielded();
    expect(await settledFor(`/dev/disk/by-uuid/${UUID}`)).toBe(true);
    expect(await exists("/dev/disk/by-label/planted")).toBe(true);
    // The next open of the open volume (a re-run `pulumi up`) puts the rule back and takes the links away.
    expect(await openHostile()).toMatchObject({ formatted: false, opened: false });
    await sh("udevadm settle");
    expect(await exists(`/dev/disk/by-uuid/${UUID}`)).toBe(false);
    expect(await exists("/dev/disk/by-label/planted")).toBe(false);
  });

  test("a planted volume group is not activated when the volume opens again", async () => {
    await sh(`wipefs -q -a ${mapper} && pvcreate -q ${onlyTheMapping} ${mapper} && vgcreate -q ${onlyTheMapping} planted ${mapper}`);
    await sh(`lvcreate -q ${onlyTheMapping} -an -Zn -L 8m -n loot planted`);
    ok(await inGuest(HOOKS.luksClose, luksValues(hostile()).close));
    expect(await exists(RULE)).toBe(false); // the last forensic-lab mapping took it with it
    expect(await openHostile()).toMatchObject({ formatted: false, opened: true });
    expect(await settledFor("/dev/mapper/planted-loot")).toBe(false);
    expect(await sh(`udevadm info --query=property --name=${mapper}`)).not.toMatch(/^ID_FS_TYPE=/m);
    // Unshielded, the open's own udev event has LVM activate the guest's VG on the 'host'.
    await reopenUnshielded();
    expect(await settledFor("/dev/mapper/planted-loot")).toBe(true);
    await sh("vgchange -q -an planted");
  });

  test("a planted volume group named like the 'host's own is invisible to the lab's LVM commands", async () => {
    await sh(`vgremove -q -ff -y planted && pvremove -q -ff -y ${mapper} && wipefs -q -a ${mapper}`);
    // vgcreate refuses a name whose /dev/<name> exists: the guest's VG is made from a device folder of its own.
    const plant = `--config 'devices { dir="/dev/plant" scan=["/dev/plant"] global_filter=["a|^/dev/plant/target$|","r|.*|"] }'`;
    await sh(
      `mkdir -p /dev/plant/mapper && cp -a /dev/mapper/control /dev/plant/mapper/ && cp -a "$(readlink -f ${mapper})" /dev/plant/target`,
    );
    await sh(`pvcreate -q ${plant} /dev/plant/target && vgcreate -q ${plant} ${VG} /dev/plant/target`);
    await sh(`lvcreate -q ${plant} -an -Zn -L 8m --addtag forensic-lab-evidence -n forensic-vol-bystander ${VG} && rm -r /dev/plant`);
    expect(await openHostile()).toMatchObject({ opened: false }); // the rule back in place
    // Plain LVM on the 'host' now finds two VGs of that name and refuses to pick one.
    const plain = await guest.ssh(`lvs ${VG}`);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/Multiple VGs found with the same name/);
    // Another case on the same host: its volume is made in, and erased from, the host's real VG.
    const bystander = lvmPlan({ caseId: "vol-bystander" });
    const made = ok<BackingResult>(await inGuest(HOOKS.backingCreate, { ...backingValues(bystander).create, SIZE_BYTES: 64 * MIB }));
    expect(made).toMatchObject({ created: true, luks: null });
    expect(ok(await inGuest(HOOKS.backingDelete, backingValues(bystander).delete))).toMatchObject({ removed: true });
    ok(await inGuest(HOOKS.luksClose, luksValues(hostile()).close));
    expect(await exists(RULE)).toBe(false);
    expect(ok(await inGuest(HOOKS.backingDelete, backingValues(hostile()).delete))).toMatchObject({ erased: true, removed: true });
    expect((await sh(`lvs --noheadings -o lv_name ${VG}`)).trim()).toBe("");
  });
});

describe("file backend, end to end", () => {
  const headerHash = () => sha256Range(volumeFile, 0, 16 * MIB);

  test("first open in the guest formats LUKS2 and mounts /case; no process shows the passphrase", async () => {
    const plan = filePlan();
    const {
      result,
      host,
      guest: inside,
    } = await watchForSecret(guest, PASSPHRASE, async () => {
      const luks = await timed("file: luks-open in guest (format + open, fast KDF)", () =>
        inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE),
      );
      const mount = await timed("file: storage-mount (mkfs.ext4 + mount)", () => inGuest(HOOKS.storageMount, storageValues(plan).mount));
      return { luks, mount };
    });
    expect(ok<LuksOpenResult>(result.luks)).toEqual({
      mapperPath: "/dev/mapper/forensic-vol-file",
      luksVersion: 2,
      cipher: "aes-xts-plain64",
      keyBits: 512,
      formatted: true,
      opened: true,
    });
    expect(ok<StorageMountResult>(result.mount)).toMatchObject({ mountPoint: "/case", filesystem: "ext4", formatted: true, mounted: true });
    expect(host.hits).toEqual([]);
    expect(inside.hits).toEqual([]);
    expect(host.scans).toBeGreaterThan(5);
    expect(inside.scans).toBeGreaterThan(1);

    const options = (await sh("findmnt -n -o OPTIONS --mountpoint /case")).trim().split(",");
    expect(options).toEqual(expect.arrayContaining(["rw", "nodev", "nosuid", "noexec"]));
    // The host sees only the LUKS2 container the guest made, with the test KDF.
    const dump = execFileSync("cryptsetup", ["luksDump", volumeFile], { encoding: "utf8" });
    expect(dump).toMatch(/^Version:\s+2$/m);
    expect(dump).toMatch(/PBKDF:\s+argon2id/);
    expect(dump).toMatch(/Memory:\s+32768/);
  });

  test("open and mount again change nothing", async () => {
    const plan = filePlan();
    const before = headerHash();
    expect(ok<LuksOpenResult>(await inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE))).toMatchObject({
      formatted: false,
      opened: false,
    });
    expect(ok<StorageMountResult>(await inGuest(HOOKS.storageMount, storageValues(plan).mount))).toMatchObject({
      formatted: false,
      mounted: false,
    });
    expect(headerHash()).toBe(before);
  });

  test("a file written to /case survives close and reopen", async () => {
    const plan = filePlan();
    await sh("mkdir -p /case/notes && echo 'finding 1: ufo.txt' > /case/notes/finding.txt && sync");
    expect(ok(await timed("file: storage-umount", () => inGuest(HOOKS.storageUmount, storageValues(plan).umount)))).toEqual({
      unmounted: true,
    });
    expect(ok(await timed("file: luks-close in guest", () => inGuest(HOOKS.luksClose, luksValues(plan).close)))).toEqual({ closed: true });
    expect(ok(await inGuest(HOOKS.storageUmount, storageValues(plan).umount))).toEqual({ unmounted: false });
    expect(ok(await inGuest(HOOKS.luksClose, luksValues(plan).close))).toEqual({ closed: false });

    const reopened = ok<LuksOpenResult>(
      await timed("file: luks-open in guest (open only, fast KDF)", () => inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE)),
    );
    expect(reopened).toMatchObject({ formatted: false, opened: true });
    expect(ok<StorageMountResult>(await inGuest(HOOKS.storageMount, storageValues(plan).mount))).toMatchObject({
      formatted: false,
      mounted: true,
    });
    expect(await sh("cat /case/notes/finding.txt")).toBe("finding 1: ufo.txt\n");
  });

  test("a wrong passphrase for the existing volume is a clear error and changes nothing", async () => {
    const plan = filePlan();
    const message = `forensic-lab: evidence volume: wrong passphrase for the existing evidence volume ${volumeFile}; nothing was changed`;
    const whileOpen = await inGuest(HOOKS.luksOpen, luksValues(plan).open, WRONG);
    expect(whileOpen.code).toBe(1);
    expect(whileOpen.stderr.trim()).toBe(message);

    ok(await inGuest(HOOKS.storageUmount, storageValues(plan).umount));
    ok(await inGuest(HOOKS.luksClose, luksValues(plan).close));
    const before = headerHash();
    const closed = await inGuest(HOOKS.luksOpen, luksValues(plan).open, WRONG);
    expect(closed.code).toBe(1);
    expect(closed.stderr.trim().split("\n").pop()).toBe(message);
    expect(headerHash()).toBe(before);
    expect((await guest.ssh("cryptsetup status forensic-vol-file")).code).not.toBe(0);
    // The right one still opens it, data intact.
    ok(await inGuest(HOOKS.luksOpen, luksValues(plan).open, PASSPHRASE));
    ok(await inGuest(HOOKS.storageMount, storageValues(plan).mount));
    expect(await sh("cat /case/notes/finding.txt")).toBe("finding 1: ufo.txt\n");
  });

  test("erase refuses while the guest's QEMU holds the file", async () => {
    const before = headerHash();
    const r = await runHostHook(HOOKS.backingDelete, backingValues(filePlan()).delete);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is still open by process \d+ \(a running guest\?\); stop it first/);
    expect(headerHash()).toBe(before);
  });

  test("destroy: unmount and close in the guest, the guest goes, then the host erases; nothing opens it again", async () => {
    const plan = filePlan();
    expect(ok(await inGuest(HOOKS.storageUmount, storageValues(plan).umount))).toEqual({ unmounted: true });
    expect(ok(await inGuest(HOOKS.luksClose, luksValues(plan).close))).toEqual({ closed: true });
    await guest.destroy();
    guestGone = true;
    // The in-guest delete hooks again, now that the guest is gone: nothing to undo.
    for (const [script, values] of [
      [HOOKS.storageUmount, storageValues(plan).umount],
      [HOOKS.luksClose, luksValues(plan).close],
    ] as const) {
      const r = await guest.runInGuestHook(script, values, { onGuestGone: "succeed" });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("is gone; nothing to undo inside it");
    }

    const keep = `${volumeFile}.inode`; // a second name for the same bytes, to look at after removal
    fs.linkSync(volumeFile, keep);
    expect(spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file=-", keep], { input: PASSPHRASE }).status).toBe(0);
    const erased = ok(
      await timed("file: backing-delete on host (erase + rm)", () => runHostHook(HOOKS.backingDelete, backingValues(plan).delete)),
    );
    expect(erased).toEqual({ backingPath: volumeFile, erased: true, removed: true, headerBytesWiped: 16 * MIB });
    expect(fs.existsSync(volumeFile)).toBe(false);
    expect(spawnSync("cryptsetup", ["isLuks", keep]).status).not.toBe(0);
    expect(spawnSync("blkid", ["-p", keep]).status).toBe(2);
    expect(luksMagicOffsets(keep)).toEqual([]);
    expect(isZero(keep, 0, 16 * MIB)).toBe(true);
    expect(spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file=-", keep], { input: PASSPHRASE }).status).not.toBe(0);
    fs.rmSync(keep);
    expect(ok(await runHostHook(HOOKS.backingDelete, backingValues(plan).delete))).toMatchObject({ erased: false, removed: false });
  });

  test("the scratch disk that held the LVM 'host' volumes carries no LUKS header anywhere", () => {
    expect(guestGone).toBe(true);
    expect(luksMagicOffsets(scratchDisk)).toEqual([]);
  });
});
