/**
 * Evidence is only ever read: NbdAttachment, PartitionMount and ImageTransfer args, and the text of
 * every command that could touch evidence. Each case starts from the safe lab and changes one thing.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { evidenceCommandsReadOnly } from "../policies/evidence-commands-read-only";
import { imageTransferReadOnly } from "../policies/image-transfer-read-only";
import { nbdAttachmentReadOnly } from "../policies/nbd-attachment-read-only";
import { partitionMountReadOnly } from "../policies/partition-mount-read-only";
import * as pulumi from "@pulumi/pulumi";
import { validateArgs } from "../../components/image-transfer/args";
import { acquisitionHooks, planTransfer } from "../../components/image-transfer/plan";
import { attachmentHooks, planAttachment } from "../../components/nbd-attachment/plan";
import { renderHook } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { CONNECTION, LabResource, inGuestText, messages, resource, safeLab } from "./fixtures";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-read-only-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A hook script of its own, for a case whose text the real hooks would never produce. */
function hook(body: string): string {
  const file = path.join(dir, `hook-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  return file;
}

let lab: LabResource[];
beforeEach(async () => {
  lab = await safeLab();
});

describe("nbd-attachment-read-only", () => {
  const policy = nbdAttachmentReadOnly;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails readOnly: false", async () => {
    resource(lab, "disk-nbd").props.readOnly = false;
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd: readOnly must be the literal true, got false: qemu-nbd would export the image writable",
    ]);
  });

  it("fails a readOnly only known during deployment", async () => {
    const nbd = resource(lab, "disk-nbd");
    Object.assign(nbd, { unknownKeys: ["readOnly"] });
    expect(await messages(policy, lab)).toEqual(["disk-nbd: readOnly must be the literal true, not a value computed during deployment"]);
  });

  it("fails a format that is not named or not one the lab opens", async () => {
    resource(lab, "disk-nbd").props.format = "auto";
    expect(await messages(policy, lab)).toEqual([
      `disk-nbd: format must be one of 'vmdk', 'qcow2', 'raw', 'vdi', 'vhdx', 'vpc', 'ewf', got "auto": a probed format lets a crafted raw image pose as qcow2 and name a backing file`,
    ]);
    delete resource(lab, "disk-nbd").props.format;
    expect(await messages(policy, lab)).toEqual([
      `disk-nbd: format must be one of 'vmdk', 'qcow2', 'raw', 'vdi', 'vhdx', 'vpc', 'ewf', got undefined: a probed format lets a crafted raw image pose as qcow2 and name a backing file`,
    ]);
  });

  it("fails an attach hook that lets qemu-nbd probe the format", async () => {
    resource(lab, "disk-nbd-attach").props.create = await inGuestText(hook('qemu-nbd --read-only --connect=/dev/nbd0 "$IMAGE"'), {
      IMAGE: "/evidence/disk/disk.vmdk",
    });
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd-attach: create hook runs `qemu-nbd --read-only --connect=/dev/nbd0 /evidence/disk/disk.vmdk` without --format, so qemu-nbd probes the image",
    ]);
  });

  it("fails an attach hook naming a format the lab does not open", async () => {
    resource(lab, "disk-nbd-attach").props.create = await inGuestText(hook('qemu-nbd -r -f "$FORMAT" -c /dev/nbd0 x'), { FORMAT: "qed" });
    expect(await messages(policy, lab)).toEqual([
      "disk-nbd-attach: create hook runs qemu-nbd with --format=qed, which is not one of vmdk, qcow2, raw, vdi, vhdx, vpc",
    ]);
  });
});

describe("partition-mount-read-only", () => {
  const policy = partitionMountReadOnly;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails readOnly: false", async () => {
    resource(lab, "disk-p1").props.readOnly = false;
    expect(await messages(policy, lab)).toEqual([
      "disk-p1: readOnly must be the literal true, got false: the partition would be mounted writable",
    ]);
  });

  it.each([
    ["rw", "extraOptions must not contain 'rw': it mounts the evidence read-write"],
    ["remount", "extraOptions must not contain 'remount': it can turn the read-only mount writable later"],
    ["recover", "extraOptions must not contain 'recover': it lets ntfs-3g replay the NTFS log file onto the evidence"],
    ["force", "extraOptions must not contain 'force': it makes ntfs-3g mount a volume Windows left hibernated or unclean"],
    ["suid", "extraOptions must not contain 'suid': it honours set-uid programs from the evidence"],
    ["dev", "extraOptions must not contain 'dev': it opens device files from the evidence"],
    ["noatime,exec", "extraOptions must not contain 'exec': it runs programs from the evidence"],
  ])("fails extraOptions [%s]", async (option, message) => {
    resource(lab, "disk-p1").props.extraOptions = [option];
    expect(await messages(policy, lab)).toEqual([`disk-p1: ${message}`]);
  });

  it("fails extraOptions that are not a list of strings", async () => {
    resource(lab, "disk-p1").props.extraOptions = "noatime";
    expect(await messages(policy, lab)).toEqual([`disk-p1: extraOptions must be a list of strings, got "noatime"`]);
  });

  it("fails a mount hook without the journal-safe options, and comments do not count", async () => {
    resource(lab, "disk-p1-mount").props.create = await inGuestText(
      hook('# noload norecovery nologreplay norecover\nmount -o "ro,$HARDENING" "$NODE" /mnt/forensic/disk/p1'),
      { HARDENING: "nodev,nosuid,noexec", NODE: "/dev/nbd0p1" },
    );
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: create hook mounts without noload, norecovery, nologreplay, norecover: the hook must pick ro plus the journal-safe option for each filesystem and nodev,nosuid,noexec",
    ]);
  });
});

describe("evidence-commands-read-only", () => {
  const policy = evidenceCommandsReadOnly;

  it("passes the safe lab, whose case-storage mount is read-write by design", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails a partition mount without ro, read inside the in-guest wrapper", async () => {
    resource(lab, "disk-p1-mount").props.create = await inGuestText(hook('mount -o "noload,nodev,nosuid,noexec" "$NODE" "$TARGET"'), {
      NODE: "/dev/nbd0p1",
      TARGET: "/mnt/forensic/disk/p1",
    });
    expect(await messages(policy, lab)).toEqual([
      "disk-p1-mount: create hook runs `mount -o noload,nodev,nosuid,noexec /dev/nbd0p1 /mnt/forensic/disk/p1`, which has no literal read-only flag (-r, --read-only, -o ro)",
    ]);
  });

  it("fails qemu-nbd without --read-only, wherever in the hook it hides", async () => {
    resource(lab, "disk-nbd-attach").props.create = await inGuestText(
      hook('dev=$(echo /dev/nbd0)\nif true; then sudo qemu-nbd --format=vmdk -c "$dev" "$IMAGE"; fi'),
      {
        IMAGE: "/evidence/disk/disk.vmdk",
      },
    );
    expect(await messages(policy, lab)).toEqual([
      // `$dev` read as what the script put in it.
      "disk-nbd-attach: create hook runs `sudo qemu-nbd --format=vmdk -c $(echo /dev/nbd0) /evidence/disk/disk.vmdk`, which exports the image writable (no -r/--read-only)",
    ]);
  });

  it("fails losetup without -r in an ImageTransfer hook", async () => {
    resource(lab, "disk-transfer-sshfs").props.delete = renderHook(hook('losetup -f --show "$IMAGE"'), { IMAGE: "/srv/evidence/disk.raw" });
    expect(await messages(policy, lab)).toEqual([
      "disk-transfer-sshfs: delete hook runs `losetup -f --show /srv/evidence/disk.raw`, which attaches a loop device writable (no -r/--read-only)",
    ]);
  });

  it("checks commands parented anywhere but the case storage and the guest", async () => {
    lab.push({
      type: "command:local:Command",
      name: "stray",
      parent: "case-42",
      props: { create: "ntfs-3g /dev/nbd0p1 /mnt/x" },
    });
    lab.push({
      type: "command:local:Command",
      name: "volume-extra",
      parent: "case-42-volume",
      props: { create: "mount -o rw /dev/mapper/case-42 /case" },
    });
    expect(await messages(policy, lab)).toEqual([
      "stray: create hook runs `ntfs-3g /dev/nbd0p1 /mnt/x`, which has no literal read-only flag (-o ro)",
    ]);
  });

  it("fails a command whose interpreter is not bash", async () => {
    resource(lab, "disk-p1-mount").props.interpreter = ["/usr/bin/python3", "-c"];
    expect(await messages(policy, lab)).toEqual([
      `disk-p1-mount: interpreter ["/usr/bin/python3","-c"] is not bash: the policy can only read shell hooks`,
    ]);
  });
});

describe("image-transfer-read-only", () => {
  const policy = imageTransferReadOnly;

  it("passes the safe lab", async () => {
    expect(await messages(policy, lab)).toEqual([]);
  });

  it("fails readOnly: false and a mode other than sshfs or scp", async () => {
    Object.assign(resource(lab, "disk-transfer").props, { readOnly: false, mode: "nfs" });
    expect(await messages(policy, lab)).toEqual([
      "disk-transfer: readOnly must be the literal true, got false: the guest could write back to the original image",
      `disk-transfer: mode must be one of 'sshfs', 'scp', got "nfs": no other transfer keeps the original out of the guest's reach`,
    ]);
  });

  it("ignores other resource types", async () => {
    expect(resource(lab, "disk-transfer").type).toBe(TYPE.ImageTransfer);
    resource(lab, "disk-nbd").props.mode = "nfs";
    expect(await messages(policy, lab)).toEqual([]);
  });
});

/**
 * An EWF set's own steps, rendered by the real plan functions: ewfmount exposes it (FUSE, `-X ro`),
 * qemu-nbd serves the exposed file as raw, ewfverify checks it in the guest.
 */
describe("an EWF set", () => {
  const segments = [1, 2, 3].map((n) => `/case/images/e01/layer-folders/0/disk.E0${n}`);
  const settle = <T>(output: pulumi.Output<T>) => new Promise<T>((resolve) => output.apply((v) => (resolve(v), v)));

  async function ewfLab(): Promise<LabResource[]> {
    const manifest = {
      format: "ewf" as const,
      chain: [{ path: "/srv/evidence/disk.E01", format: "ewf" as const }],
      files: [1, 2, 3].map((n) => ({ path: `/srv/evidence/disk.E0${n}`, size: 1 << 20 })),
      acquisition: { container: "ewf" as const, md5: "0".repeat(32), sha1: "1".repeat(40) },
    };
    const args = validateArgs({
      imageName: "e01",
      manifest,
      mode: "scp",
      readOnly: true,
      hashed: true,
      custodyLogPath: "/var/lib/forensic-lab/case-42/custody.jsonl",
      examiner: "examiner",
    });
    const plan = planTransfer(args.manifest, args.guestRoot);
    const check = acquisitionHooks(CONNECTION, args, plan);
    const attach = attachmentHooks(CONNECTION, planAttachment("ewf", segments[0], [], segments), "ewf", 16);
    const command = async (create: pulumi.Output<string>, del: pulumi.Output<string>) => ({
      interpreter: ["/bin/bash", "-c"],
      create: await settle(create),
      delete: await settle(del),
    });
    return [
      ...lab,
      {
        type: TYPE.ImageTransfer,
        name: "e01-transfer",
        parent: "case-42",
        props: { guest: CONNECTION, mode: "scp", readOnly: true, hashed: true },
      },
      { type: "command:local:Command", name: "e01-acquisition", parent: "e01-transfer", props: await command(check.create, check.delete) },
      {
        type: TYPE.NbdAttachment,
        name: "e01-nbd",
        parent: "case-42",
        props: { guest: CONNECTION, format: "ewf", readOnly: true, imagePath: segments[0] },
      },
      { type: "command:local:Command", name: "e01-nbd-attach", parent: "e01-nbd", props: await command(attach.create, attach.delete) },
    ];
  }

  it("passes as the lab renders it: ewfmount -X ro, qemu-nbd --read-only --format=raw, ewfverify", async () => {
    const ewf = await ewfLab();
    const attach = String(resource(ewf, "e01-nbd-attach").props.create);
    expect(attach).toContain("ewfmount -X ro");
    expect(String(resource(ewf, "e01-acquisition").props.create)).toContain("ewfverify -q -d sha1");
    for (const policy of [evidenceCommandsReadOnly, nbdAttachmentReadOnly, imageTransferReadOnly]) {
      expect(await messages(policy, ewf)).toEqual([]);
    }
  });

  it("fails ewfmount without -X ro, or with a write-enabling option", async () => {
    const ewf = await ewfLab();
    resource(ewf, "e01-nbd-attach").props.create = await inGuestText(hook('ewfmount "${EWF_SEGMENTS[@]}" "$EWF_MOUNT"'), {
      EWF_SEGMENTS: segments,
      EWF_MOUNT: "/run/forensic-lab/ewf/x",
    });
    expect(await messages(evidenceCommandsReadOnly, ewf)).toEqual([
      "e01-nbd-attach: create hook runs `ewfmount ${EWF_SEGMENTS[@]} /run/forensic-lab/ewf/x`, which has no literal read-only flag (-X ro)",
    ]);
    resource(ewf, "e01-nbd-attach").props.create = await inGuestText(hook('ewfmount -X ro,rw "${EWF_SEGMENTS[@]}" "$EWF_MOUNT"'), {
      EWF_SEGMENTS: segments,
      EWF_MOUNT: "/run/forensic-lab/ewf/x",
    });
    expect(await messages(evidenceCommandsReadOnly, ewf)).toEqual([
      "e01-nbd-attach: create hook runs `ewfmount -X ro,rw ${EWF_SEGMENTS[@]} /run/forensic-lab/ewf/x`, which carries the write-enabling option 'rw'",
    ]);
  });

  it("fails ewfverify writing a log file, and libewf's writers on evidence", async () => {
    const ewf = await ewfLab();
    resource(ewf, "e01-acquisition").props.create = await inGuestText(hook('ewfverify -q -l "$LOG" "$FIRST"'), {
      FIRST: segments[0],
      LOG: `${segments[0]}.log`,
    });
    resource(ewf, "e01-acquisition").props.delete = await inGuestText(hook('ewfexport -t "${SEGMENTS[0]}" /tmp/x.E01'), {
      SEGMENTS: segments,
    });
    expect(await messages(evidenceCommandsReadOnly, ewf)).toEqual([
      expect.stringMatching(
        /^e01-acquisition: create hook runs `ewfverify -q -l .*disk\.E01\.log .*`, which writes a log file where -l points \(read its report from stdout instead\)$/,
      ),
      expect.stringMatching(
        /^e01-acquisition: delete hook runs `ewfexport -t .*`, which touches evidence .*, and ewfexport is not a command allowed to/,
      ),
    ]);
  });
});
