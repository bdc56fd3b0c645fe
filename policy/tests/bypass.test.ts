/**
 * The evidence allow-list cannot be walked around (issue 11, item 7): each case puts one bypass into
 * the safe lab's nbd attach hook (in the guest, with the hook's real prelude values) and expects the
 * exact violation. What names evidence must be a reader or a read-only tool; what hides what it runs
 * is refused.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evidenceCommandsReadOnly } from "../policies/evidence-commands-read-only";
import { partitionMountReadOnly } from "../policies/partition-mount-read-only";
import { LabResource, inGuestText, messages, resource, safeLab } from "./fixtures";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-bypass-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function hook(body: string): string {
  const file = path.join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  return file;
}

const VALUES = {
  NBD_DEVICE: "/dev/nbd0",
  IMAGE_SPEC: 'json:{"driver":"vmdk","read-only":true,"file":{"driver":"file","filename":"/evidence/disk/disk.vmdk"}}',
  LAYER_PATHS: ["/evidence/disk/disk.vmdk"],
};

let lab: LabResource[];
beforeEach(async () => {
  lab = await safeLab();
});

async function attachHookRuns(body: string): Promise<string[]> {
  resource(lab, "disk-nbd-attach").props.create = await inGuestText(hook(body), VALUES);
  return messages(evidenceCommandsReadOnly, lab);
}

describe("evidence-commands-read-only: the allow-list", () => {
  it("passes the safe lab", async () => {
    expect(await messages(evidenceCommandsReadOnly, lab)).toEqual([]);
  });

  it("passes a variable that holds evidence handed to a reader, and one that holds no evidence handed to a writer", async () => {
    expect(
      await attachHookRuns('device=$NBD_DEVICE\nblockdev --getsize64 "$device"\nscratch=/tmp/x\ndd if=/dev/zero of="$scratch"'),
    ).toEqual([]);
  });

  it("passes removing the guest's copies of copied files (rm, chattr -i: the transfer's delete), and nothing else done to them", async () => {
    const copies = { ...VALUES, DESTS: ["/case/images/disk/0/disk.vmdk", "/case/images/disk/1/disk-s001.vmdk"] };
    const run = async (body: string) => {
      resource(lab, "disk-nbd-attach").props.delete = await inGuestText(hook(body), copies, "succeed");
      return messages(evidenceCommandsReadOnly, lab);
    };
    expect(await run('for dest in "${DESTS[@]}"; do chattr -i -- "$dest"; rm -f -- "$dest"; done')).toEqual([]);
    const d = "disk-nbd-attach: delete hook";
    expect(await run('for dest in "${DESTS[@]}"; do truncate -s 0 "$dest"; done')).toEqual([
      `${d} runs \`truncate -s 0 /case/images/disk/0/disk.vmdk\`, which touches evidence (/case/images/disk/0/disk.vmdk), and truncate is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ]);
    expect(await run('chattr +i -- "${DESTS[0]}"')).toEqual([
      `${d} runs \`chattr +i -- /case/images/disk/0/disk.vmdk\`, which touches evidence (/case/images/disk/0/disk.vmdk), and chattr is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ]);
    // The originals are no copies.
    expect(await run('rm -f -- "${LAYER_PATHS[0]}"')).toEqual([
      `${d} runs \`rm -f -- /evidence/disk/disk.vmdk\`, which touches evidence (/evidence/disk/disk.vmdk), and rm is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ]);
  });

  it("passes readers of evidence", async () => {
    expect(
      await attachHookRuns(
        'sha256sum "${LAYER_PATHS[0]}"\nsfdisk --json "$NBD_DEVICE"\nblockdev --setro "$NBD_DEVICE"\ncat /evidence/disk/disk.vmdk >/dev/null',
      ),
    ).toEqual([]);
  });

  it("passes a dmsetup create of a thin pool in its read_only mode, and nothing more in that table", async () => {
    const pool = (table: string) => attachHookRuns(`dmsetup create --table "${table}" -- "$POOL"`);
    expect(await pool("0 $size thin-pool $meta $data $chunk 0 1 read_only")).toEqual([]);
    // A second target line after the pool's, or a feature more: a create without --readonly like any other.
    for (const table of [
      "0 8 thin-pool /dev/mapper/m /dev/mapper/d 128 0 1 read_only\n8 8 linear /dev/nbd0p2 0",
      "0 8 thin-pool m d 128 0 2 read_only x",
    ]) {
      expect(await pool(table)).toEqual([expect.stringMatching(/which creates or changes device-mapper mappings \(dmsetup create\)$/)]);
    }
  });

  const h = "disk-nbd-attach: create hook";
  it.each([
    [
      "dd",
      'dd if=/dev/zero of="$NBD_DEVICE" bs=1M count=1',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0 bs=1M count=1\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "tee",
      'printf x | tee "$NBD_DEVICE"',
      `${h} runs \`tee /dev/nbd0\`, which touches evidence (/dev/nbd0), and tee is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ],
    [
      "cp",
      "cp /tmp/x /dev/nbd0p1",
      `${h} runs \`cp /tmp/x /dev/nbd0p1\`, which touches evidence (/dev/nbd0p1), and cp is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ],
    [
      "cp onto the image",
      'cp /tmp/x "${LAYER_PATHS[0]}"',
      `${h} runs \`cp /tmp/x /evidence/disk/disk.vmdk\`, which touches evidence (/evidence/disk/disk.vmdk), and cp is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ],
    ["a redirection to /dev/nbd*", "echo x >/dev/nbd0", `${h} writes to evidence through a redirection (> /dev/nbd0)`],
    ["a bare redirection", ": >>/dev/nbd0p2", `${h} writes to evidence through a redirection (>> /dev/nbd0p2)`],
    [
      "blockdev --setrw",
      "blockdev --setrw /dev/nbd0",
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    ["hdparm -r0", "hdparm -r0 /dev/nbd0", `${h} runs \`hdparm -r0 /dev/nbd0\`, which makes the device writable (hdparm -r0)`],
    [
      "sfdisk",
      "sfdisk /dev/nbd0 </tmp/table",
      `${h} runs \`sfdisk /dev/nbd0\`, which writes the partition table (sfdisk without --json, --dump or --list)`,
    ],
    [
      "parted",
      "parted -s /dev/nbd0 mklabel gpt",
      `${h} runs \`parted -s /dev/nbd0 mklabel gpt\`, which changes the partition table (parted mklabel)`,
    ],
    [
      "tune2fs",
      "tune2fs -O ^has_journal /dev/nbd0p1",
      `${h} runs \`tune2fs -O ^has_journal /dev/nbd0p1\`, which changes the filesystem's superblock (tune2fs without -l)`,
    ],
    ["debugfs", "debugfs -w /dev/nbd0p1", `${h} runs \`debugfs -w /dev/nbd0p1\`, which opens the filesystem for writing (debugfs -w)`],
    [
      "qemu-io",
      "qemu-io -f vmdk -c 'write 0 512' /evidence/disk/disk.vmdk",
      `${h} runs \`qemu-io -f vmdk -c write 0 512 /evidence/disk/disk.vmdk\`, which opens the image writable (qemu-io without -r/--read-only)`,
    ],
    [
      "nbd-client",
      "nbd-client localhost 10809 /dev/nbd1",
      `${h} runs \`nbd-client localhost 10809 /dev/nbd1\`, which attaches the export writable (nbd-client without -readonly)`,
    ],
    [
      "vgchange -ay",
      "vgchange -ay evidencevg",
      `${h} runs \`vgchange -ay evidencevg\`, which activates logical volumes writable (vgchange -ay without --readonly)`,
    ],
    [
      "lvm vgchange -ay",
      "lvm vgchange -ay evidencevg",
      `${h} runs \`lvm vgchange -ay evidencevg\`, which activates logical volumes writable (vgchange -ay without --readonly)`,
    ],
    [
      "vgck --updatemetadata",
      "vgck --updatemetadata evidencevg",
      `${h} runs \`vgck --updatemetadata evidencevg\`, which may change LVM metadata or activate volumes (vgck without --readonly)`,
    ],
    [
      "lvm vgimportclone",
      "lvm vgimportclone -n copyvg /dev/nbd0p2",
      `${h} runs \`lvm vgimportclone -n copyvg /dev/nbd0p2\`, which may change LVM metadata or activate volumes (lvm vgimportclone without --readonly)`,
    ],
    [
      "pvscan -aay",
      "pvscan --cache -aay /dev/nbd0p2",
      `${h} runs \`pvscan --cache -aay /dev/nbd0p2\`, which may change LVM metadata or activate volumes (pvscan without --readonly)`,
    ],
    [
      "dmsetup create",
      "dmsetup create copy --table '0 8 linear /dev/nbd0p2 0'",
      `${h} runs \`dmsetup create copy --table 0 8 linear /dev/nbd0p2 0\`, which creates or changes device-mapper mappings (dmsetup create)`,
    ],
    [
      "dmsetup create of a thin pool without its read_only feature",
      "dmsetup create --table '0 8 thin-pool /dev/mapper/m /dev/mapper/d 128 0 0' -- pool",
      `${h} runs \`dmsetup create --table 0 8 thin-pool /dev/mapper/m /dev/mapper/d 128 0 0 -- pool\`, which creates or changes device-mapper mappings (dmsetup create)`,
    ],
    [
      "cryptsetup open",
      "cryptsetup open /dev/nbd0p2 bitlocker",
      `${h} runs \`cryptsetup open /dev/nbd0p2 bitlocker\`, which opens the mapping writable (cryptsetup open without --readonly)`,
    ],
    [
      'a json: spec with "read-only": false',
      `qemu-nbd --read-only --format=vmdk --connect=/dev/nbd1 'json:{"driver":"vmdk","read-only":false,"file":{"driver":"file","filename":"/evidence/disk/disk.vmdk"}}'`,
      `${h} runs \`qemu-nbd --read-only --format=vmdk --connect=/dev/nbd1 json:{"driver":"vmdk","read-only":false,"file":{"driver":"file","filename":"/evidence/disk/disk.vmdk"}}\`, which opens the image writable ("read-only": false in its json: spec)`,
    ],
    [
      "busybox",
      "busybox dd if=/dev/zero of=/dev/nbd0",
      `${h} runs \`busybox dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "su -c",
      "su -c 'blockdev --setrw /dev/nbd0' root",
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    [
      "systemd-run",
      "systemd-run --wait -p DynamicUser=no hdparm -r0 /dev/nbd0",
      `${h} runs \`systemd-run --wait -p DynamicUser=no hdparm -r0 /dev/nbd0\`, which makes the device writable (hdparm -r0)`,
    ],
    [
      "env -S",
      "env -S 'dd of=/dev/nbd0 if=/dev/zero'",
      `${h} runs \`env -S dd of=/dev/nbd0 if=/dev/zero\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "nsenter",
      "nsenter -t 1 -m -- blockdev --setrw /dev/nbd0",
      `${h} runs \`nsenter -t 1 -m -- blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    [
      "chroot",
      "chroot / blockdev --setrw /dev/nbd0",
      `${h} runs \`chroot / blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    ["sudo sh -c", "sudo sh -c 'echo x > /dev/nbd0'", `${h} writes to evidence through a redirection (> /dev/nbd0)`],
    // `]]` ends a test even when an operator follows without a space: what comes after it runs.
    [
      "a command glued to the end of a [[ ]] test",
      '[[ -b "$NBD_DEVICE" ]]&& dd if=/dev/zero of="$NBD_DEVICE"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a pipe glued to the end of a [[ ]] test",
      '[[ -b "$NBD_DEVICE" ]]|| blockdev --setrw "$NBD_DEVICE"',
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    [
      "a redirection of a [[ ]] test",
      '[[ -b "$NBD_DEVICE" ]]>"$NBD_DEVICE"',
      `${h} writes to evidence through a redirection (> /dev/nbd0)`,
    ],
    // Command substitutions run wherever bash expands a word: in array values, inside ${...} and $((...)).
    [
      "a substitution in an array's value",
      'a=( $(dd if=/dev/zero of="$NBD_DEVICE") )',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a backtick in an array's value",
      'a+=( "x" `blockdev --setrw "$NBD_DEVICE"` )',
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    [
      "a substitution in an expansion's default",
      'echo "${x:-$(dd if=/dev/zero of="$NBD_DEVICE")}"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a substitution in arithmetic",
      ": $(( $(dd if=/dev/zero of=/dev/nbd0) ))",
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    // A name the script itself fills with evidence is read as that evidence.
    [
      "dd of= a variable holding the device",
      'device=$NBD_DEVICE\ndd if=/dev/zero of="$device"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a redirection to a variable set from another",
      'part="${NBD_DEVICE}p1"\ntarget=$part\nprintf x > "$target"',
      `${h} writes to evidence through a redirection (> /dev/nbd0p1)`,
    ],
    [
      "a local in a function",
      'wipe() { local d="$NBD_DEVICE"; dd if=/dev/zero of="$d"; }\nwipe',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "read from a here-string",
      'read -r device <<< "$NBD_DEVICE"\ndd if=/dev/zero of="$device"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "printf -v",
      'printf -v device %s "$NBD_DEVICE"\ndd if=/dev/zero of="$device"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "an indirect expansion",
      'name=NBD_DEVICE\ndd if=/dev/zero of="${!name}"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a nameref",
      'declare -n device=NBD_DEVICE\ndd if=/dev/zero of="$device"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "a loop over a prelude array",
      'for layer in "${LAYER_PATHS[@]}"; do truncate -s 0 "$layer"; done',
      `${h} runs \`truncate -s 0 /evidence/disk/disk.vmdk\`, which touches evidence (/evidence/disk/disk.vmdk), and truncate is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ],
    // However a path is spelt, it is the path the kernel opens.
    [
      "a device spelt with //",
      "dd if=/dev/zero of=//dev/nbd0",
      `${h} runs \`dd if=/dev/zero of=//dev/nbd0\`, which writes to //dev/nbd0 (dd of=)`,
    ],
    [
      "a device reached through /proc/self/root",
      "dd if=/dev/zero of=/proc/self/root/dev/nbd0",
      `${h} runs \`dd if=/dev/zero of=/proc/self/root/dev/nbd0\`, which writes to /proc/self/root/dev/nbd0 (dd of=)`,
    ],
    [
      "an image spelt with /./ and ..",
      "truncate -s 0 /evidence/./disk/../disk/disk.vmdk",
      `${h} runs \`truncate -s 0 /evidence/./disk/../disk/disk.vmdk\`, which touches evidence (/evidence/./disk/../disk/disk.vmdk), and truncate is not a command allowed to: only readers, mount-point folders and the read-only tools may`,
    ],
    [
      "a descriptor on the device reopened through /proc/self/fd",
      'exec 3<"$NBD_DEVICE"\ndd if=/dev/zero of=/proc/self/fd/3',
      `${h} runs \`dd if=/dev/zero of=/proc/self/fd/3\`, which writes to /proc/self/fd/3 (dd of=)`,
    ],
    [
      "a descriptor on the device reopened through /dev/fd",
      'exec 3<"$NBD_DEVICE"\necho x >/dev/fd/3',
      `${h} writes to evidence through a redirection (> /dev/fd/3)`,
    ],
    [
      "a device node made by its numbers",
      "mknod /tmp/disk b 43 0",
      `${h} runs \`mknod /tmp/disk b 43 0\`, which makes a device node, which reaches a disk by its numbers whatever it is named`,
    ],
    [
      "a relative name after cd /dev",
      "cd /dev && dd if=/dev/zero of=nbd0",
      `${h} runs \`cd /dev\`, which changes into /dev, where a relative name would reach a device the policy cannot see`,
    ],
    // set -u does not stop `${name:-word}`: the word is judged as if written there.
    ["a redirection to an expansion's default", 'exec 3>"${x:-/dev/nbd0}"', `${h} writes to evidence through a redirection (> /dev/nbd0)`],
    [
      "a dd of= an expansion's default",
      'dd if=/dev/zero of="${OUT:=$NBD_DEVICE}"',
      `${h} runs \`dd if=/dev/zero of=/dev/nbd0\`, which writes to /dev/nbd0 (dd of=)`,
    ],
    [
      "find -exec",
      "find /dev -name 'nbd0' -exec dd if=/dev/zero of={} \\;",
      `${h} runs \`dd if=/dev/zero of=/dev/{}\`, which writes to /dev/{} (dd of=)`,
    ],
    [
      "trap",
      "trap 'blockdev --setrw /dev/nbd0' EXIT",
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ],
    [
      "a known here-string into bash",
      "bash <<<'hdparm -r0 /dev/nbd0'",
      `${h} runs \`hdparm -r0 /dev/nbd0\`, which makes the device writable (hdparm -r0)`,
    ],
  ])("fails %s", async (_, body, message) => {
    expect(await attachHookRuns(body)).toEqual([message]);
  });

  const opaque = "the policy cannot see what it does to evidence";
  it.each([
    [
      "eval of run-time text",
      'cmd=$(cat /tmp/c)\neval "$cmd"',
      `${h} runs \`eval $cmd\`, which evaluates text built at run time (eval): ${opaque}`,
    ],
    [
      "bash -c $var",
      'cmd=$(cat /tmp/c)\nbash -c "$cmd"',
      `${h} runs \`bash -c $cmd\`, which runs a command string (bash -c) built at run time: ${opaque}`,
    ],
    [
      "a here-string of run-time text",
      'cmd=$(cat /tmp/c)\nbash <<<"$cmd"',
      `${h} runs \`bash\`, which runs a here-string script (bash <<<) built at run time: ${opaque}`,
    ],
    ["a pipe into a shell", "curl -s http://x/y | sh", `${h} runs \`sh\`, which runs commands piped into a shell (| sh): ${opaque}`],
    [
      "sh -c of run-time text",
      'sh -c "$(cat /tmp/c)"',
      `${h} runs \`sh -c $(cat /tmp/c)\`, which runs a command string (sh -c) built at run time: ${opaque}`,
    ],
    [
      "xargs",
      "echo /dev/nbd0 | xargs blockdev --setrw",
      `${h} runs \`xargs blockdev --setrw\`, which runs a command on arguments read at run time (xargs): ${opaque}`,
    ],
    [
      "su without -c",
      "echo 'dd of=/dev/nbd0' | su root",
      `${h} runs \`su root\`, which starts a shell that reads commands from standard input (su): ${opaque}`,
    ],
    [
      "env -S of run-time text",
      'env -S "$(cat /tmp/c)"',
      `${h} runs \`env -S $(cat /tmp/c)\`, which runs a command line built at run time (env -S): ${opaque}`,
    ],
    [
      "a program chosen at run time",
      'tool=$(cat /tmp/t)\n"$tool" /dev/nbd0',
      `${h} runs \`$tool /dev/nbd0\`, which runs a program chosen at run time: ${opaque}`,
    ],
    [
      "sudo of a run-time program",
      'sudo "$(cat /tmp/t)" /dev/nbd0',
      `${h} runs \`sudo $(cat /tmp/t) /dev/nbd0\`, which runs a program chosen at run time: ${opaque}`,
    ],
    [
      "a script file",
      "bash /tmp/x.sh",
      `${h} runs \`bash /tmp/x.sh\`, which runs a script file the policy cannot read (bash /tmp/x.sh): ${opaque}`,
    ],
    ["source", ". /tmp/x.sh", `${h} runs \`. /tmp/x.sh\`, which runs a script file the policy cannot read (.): ${opaque}`],
    [
      "another language",
      'python3 -c \'open("/dev/nbd0","wb")\'',
      `${h} runs \`python3 -c open("/dev/nbd0","wb")\`, which runs a python3 program, which the policy cannot read: ${opaque}`,
    ],
  ])("fails %s", async (_, body, message) => {
    expect(await attachHookRuns(body)).toEqual([message]);
  });

  it("accepts bash -c of a name the hook never sets (set -u stops it), unless the environment sets it", async () => {
    expect(await attachHookRuns('bash -c "$GUEST_REMOVE_HOOK"')).toEqual([]);
    resource(lab, "disk-nbd-attach").props.environment = { GUEST_REMOVE_HOOK: "blockdev --setrw /dev/nbd0" };
    expect(await messages(evidenceCommandsReadOnly, lab)).toEqual([
      `${h} runs \`bash -c $GUEST_REMOVE_HOOK\`, which runs a command string (bash -c) built at run time: ${opaque}`,
    ]);
  });

  it("reads through the hook's own functions that run their arguments", async () => {
    expect(await attachHookRuns('retry() { local n=$1\n  shift\n  "$@"; }\nretry 3 blockdev --setrw /dev/nbd0')).toEqual([
      `${h} runs \`blockdev --setrw /dev/nbd0\`, which makes the device writable (blockdev --setrw)`,
    ]);
  });
});

describe("partition-mount-read-only: journal-safe options are option elements, not text", () => {
  it("fails a mount point named /mnt/noload-x standing in for noload", async () => {
    resource(lab, "disk-p1-mount").props.create = await inGuestText(
      hook('mount -o "ro,norecovery,rescue=nologreplay,norecover,$HARDENING" "$NODE" /mnt/noload-x'),
      { HARDENING: "nodev,nosuid,noexec", NODE: "/dev/nbd0p1" },
    );
    expect(await messages(partitionMountReadOnly, lab)).toEqual([
      "disk-p1-mount: create hook mounts without noload: the hook must pick ro plus the journal-safe option for each filesystem and nodev,nosuid,noexec",
    ]);
  });
});
