/**
 * One safe lab, built by hand from the real hook scripts and the real domain XML, as the records the
 * mocks helper would have made: each policy test starts from it and changes one thing.
 */
import * as pulumi from "@pulumi/pulumi";
import { domainXml, DomainSpec } from "../../components/analysis-guest/domain-xml";
import { GuestConnection, HookValue, inGuestCommand, renderHook } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { RecordedResource } from "../../test/mocks";
import { HandBuiltResource, handBuiltRecord, runPolicies } from "../../test/support/policy-harness";
import { Policies, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { hookFile } from "../../lib/hook-file";

export const DOMAIN = "forensic-case-42";
export const PASSPHRASE = "correct horse battery staple";

export const CONNECTION: GuestConnection = {
  host: "127.0.0.1",
  port: 2222,
  user: "root",
  privateKeyPath: "/var/lib/forensic-lab/case-42/keys/id_ed25519",
  knownHostsPath: "/var/lib/forensic-lab/case-42/keys/known_hosts",
  jumpHost: "",
  domainName: DOMAIN,
  libvirtUri: "qemu:///system",
};

export const DOMAIN_SPEC: DomainSpec = {
  name: DOMAIN,
  memoryMiB: 2048,
  vcpus: 2,
  kernelPath: "/var/lib/forensic-lab/guest-image/current/vmlinuz",
  initrdPath: "/var/lib/forensic-lab/guest-image/current/initrd.img",
  cmdline: "root=/dev/vda ro rootfstype=ext4 console=ttyS0 panic=-1",
  overlayPath: "/var/lib/forensic-lab/case-42/disks/overlay.qcow2",
  seedPath: "/var/lib/forensic-lab/case-42/disks/seed.img",
  consoleLogPath: "/var/lib/forensic-lab/case-42/console.log",
  evidenceDisk: { path: "/var/lib/forensic-lab/case-42/evidence.img", type: "file" },
  network: { mode: "user-restricted", sshPort: 2222 },
};

/** The text `inGuestCommand` renders, resolved (its Output settles without an engine). */
export function inGuestText(
  file: string,
  values: Record<string, HookValue>,
  onGuestGone: "fail" | "succeed" = "fail",
  guest: GuestConnection = CONNECTION,
): Promise<string> {
  return new Promise((resolve) => pulumi.output(inGuestCommand(guest, file, values, onGuestGone)).apply((t) => resolve(t)));
}

/** A resource of the lab, its parent named rather than linked, so a test can change it before building. */
export interface LabResource extends Omit<HandBuiltResource, "parent"> {
  readonly parent?: string;
  props: Record<string, unknown>;
}

export async function safeLab(): Promise<LabResource[]> {
  const mountValues = { NBD_DEVICE: "/dev/nbd0", PARTITION: "1", MOUNT_POINT: "/mnt/forensic/disk/p1", MOUNT_ROOT: "" };
  const imageSpec = 'json:{"driver":"vmdk","read-only":true,"file":{"driver":"file","filename":"/evidence/disk/disk.vmdk"},"backing":null}';
  const sshfsValues = {
    IMAGE_NAME: "disk",
    HOST_FILES: ["/srv/evidence/disk.vmdk"],
    GUEST_PATHS: ["/evidence/disk/f0/disk.vmdk"],
    CUSTODY_LOG: "/var/lib/forensic-lab/case-42/custody.log",
    EXAMINER: "examiner",
    STATE_DIR: "/var/lib/forensic-lab/case-42/image-transfer/disk",
    PID_FILES: ["/var/lib/forensic-lab/case-42/image-transfer/disk/sftp-0.pid"],
    FIFOS: ["/var/lib/forensic-lab/case-42/image-transfer/disk/sftp-0.fifo"],
    JAIL_DIRS: ["/var/lib/forensic-lab/case-42/image-transfer/disk/jail-0"],
    LOG_FILES: ["/var/lib/forensic-lab/case-42/image-transfer/disk/sftp-0.log"],
    GUEST_UNMOUNT_HOOK: await inGuestText(
      hookFile("image-transfer", "guest-unmount.sh"),
      { MOUNT_POINTS: ["/evidence/disk/f0"], LAYER_DIR: "/evidence/disk/layer-folders", GUEST_ROOT: "/evidence/disk" },
      "succeed",
    ),
  };
  const command = (create: string, del: string, extra: Record<string, unknown> = {}) => ({
    interpreter: ["/bin/bash", "-c"],
    create,
    delete: del,
    ...extra,
  });
  return [
    { type: TYPE.Case, name: "case-42", props: {} },
    {
      type: TYPE.EvidenceVolume,
      name: "case-42-volume",
      parent: "case-42",
      props: { backend: "file", encrypted: true, passphrase: PASSPHRASE, retain: false, sizeGiB: 8, fastKdfForTestsOnly: false },
      secretKeys: ["passphrase"],
    },
    {
      type: "command:local:Command",
      name: "case-42-volume-luks",
      parent: "case-42-volume",
      props: command(
        await inGuestText(hookFile("evidence-volume", "any-luks-open.sh"), {
          DEVICE: "/dev/disk/by-id/virtio-forensic-evidence",
          MAPPER_NAME: "case-42",
        }),
        await inGuestText(hookFile("evidence-volume", "any-luks-close.sh"), { MAPPER_NAME: "case-42" }, "succeed"),
        { stdin: PASSPHRASE },
      ),
      secretKeys: ["stdin"],
      additionalSecretOutputs: ["stdin"],
    },
    {
      type: TYPE.AnalysisGuest,
      name: "case-42-guest",
      parent: "case-42",
      props: { network: "user-restricted", memoryMiB: 2048, vcpus: 2, hostShares: [] },
    },
    {
      type: "command:local:Command",
      name: "case-42-guest-domain",
      parent: "case-42-guest",
      props: command(
        renderHook(hookFile("analysis-guest", "host-create.sh"), {
          DOMAIN_NAME: DOMAIN,
          DOMAIN_XML_KVM: domainXml(DOMAIN_SPEC, "kvm"),
          DOMAIN_XML_TCG: domainXml(DOMAIN_SPEC, "tcg"),
        }),
        renderHook(hookFile("analysis-guest", "host-delete.sh"), { DOMAIN_NAME: DOMAIN }),
      ),
    },
    {
      type: TYPE.ImageTransfer,
      name: "disk-transfer",
      parent: "case-42",
      props: { guest: CONNECTION, mode: "sshfs", readOnly: true, hashed: true },
    },
    {
      type: "command:local:Command",
      name: "disk-transfer-sshfs",
      parent: "disk-transfer",
      props: command(
        renderHook(hookFile("image-transfer", "host-sshfs.sh"), {
          ...sshfsValues,
          ACTION: "start",
          PIPES: [
            renderHook(hookFile("image-transfer", "host-sshfs-pipe.sh"), {
              IMAGE_NAME: "disk",
              FOLDER_INDEX: 0,
              PID_FILE: "/var/lib/forensic-lab/case-42/image-transfer/disk/sftp-0.pid",
              FIFO: "/var/lib/forensic-lab/case-42/image-transfer/disk/sftp-0.fifo",
              JAIL_DIR: "/var/lib/forensic-lab/case-42/image-transfer/disk/jail-0",
              HOST_FILES: ["/srv/evidence/disk.vmdk"],
              GUEST_MOUNT_HOOK: await inGuestText(hookFile("image-transfer", "guest-sshfs-mount.sh"), { MOUNT_POINT: "/evidence/disk/f0" }),
            }),
          ],
          HOST_SHA256: ["0".repeat(64)],
          GUEST_HASH_HOOK: await inGuestText(hookFile("image-transfer", "guest-hash.sh"), {
            PATHS: ["/evidence/disk/f0/disk.vmdk"],
            WAIT_MOUNTS: ["/evidence/disk/f0"],
            WAIT_SECONDS: 120,
            MISSING_OK: false,
          }),
        }),
        renderHook(hookFile("image-transfer", "host-sshfs.sh"), { ...sshfsValues, ACTION: "stop" }),
      ),
    },
    {
      type: TYPE.NbdAttachment,
      name: "disk-nbd",
      parent: "case-42",
      props: { guest: CONNECTION, format: "vmdk", readOnly: true, imagePath: "/evidence/disk/disk.vmdk" },
    },
    {
      type: "command:local:Command",
      name: "disk-nbd-attach",
      parent: "disk-nbd",
      props: command(
        await inGuestText(hookFile("nbd-attachment", "guest-attach.sh"), {
          IMAGE_SPEC: imageSpec,
          IMAGE_FORMAT: "vmdk",
          QEMU_FORMAT: "vmdk",
          EWF_SEGMENTS: [],
          EWF_MOUNT: "",
          LAYER_PATHS: ["/evidence/disk/disk.vmdk"],
          LAYER_FORMATS: ["vmdk"],
          MAX_PARTITIONS: 16,
        }),
        await inGuestText(hookFile("nbd-attachment", "guest-detach.sh"), { IMAGE_SPEC: imageSpec, EWF_MOUNT: "" }, "succeed"),
      ),
    },
    {
      type: TYPE.PartitionMount,
      name: "disk-p1",
      parent: "case-42",
      props: { guest: CONNECTION, readOnly: true, partition: 1, extraOptions: ["noatime"] },
    },
    {
      type: "command:local:Command",
      name: "disk-p1-mount",
      parent: "disk-p1",
      props: command(
        await inGuestText(hookFile("partition-mount", "guest-mount.sh"), {
          ...mountValues,
          EXTRA_OPTIONS: ["noatime"],
          EXAMINER_UID: 1000,
          EXAMINER_GID: 1000,
        }),
        await inGuestText(hookFile("partition-mount", "guest-umount.sh"), { ...mountValues, LAZY_UNMOUNT: false }, "succeed"),
      ),
    },
  ];
}

/** Records in order, each child's URN carrying its parent's type chain. */
export function build(lab: readonly LabResource[]): RecordedResource[] {
  const byName = new Map<string, RecordedResource>();
  return lab.map((r) => {
    const parent = r.parent === undefined ? undefined : byName.get(r.parent);
    if (r.parent !== undefined && parent === undefined)
      throw new Error(`fixture: parent '${r.parent}' of '${r.name}' comes later or not at all`);
    const record = handBuiltRecord({ ...r, parent });
    byName.set(r.name, record);
    return record;
  });
}

export function resource(lab: LabResource[], name: string): LabResource {
  const found = lab.find((r) => r.name === name);
  if (!found) throw new Error(`fixture: no resource '${name}'`);
  return found;
}

/** The messages one policy reports for a lab (each prefixed by the resource name, for readable diffs). */
export async function messages(
  policy: ResourceValidationPolicy | StackValidationPolicy,
  lab: readonly LabResource[],
  config?: Record<string, Record<string, unknown>>,
): Promise<string[]> {
  const violations = await runPolicies(build(lab), { policies: [policy] as Policies, config });
  return violations.map((v) => `${v.name ?? "(stack)"}: ${v.message}`);
}

/**
 * The lab with something unsafe for every policy. `plainPassphrase: false` keeps the volume's
 * passphrase a secret: the real engine stops a deployment at the first remediation that throws
 * (passphrase-is-secret), so a preview that must name every other violation leaves that one out.
 */
export async function unsafeLab({ plainPassphrase = true } = {}): Promise<LabResource[]> {
  const lab = await safeLab();
  resource(lab, "disk-nbd").props.readOnly = false;
  resource(lab, "disk-p1").props.extraOptions = ["rw"];
  resource(lab, "disk-p1").props.guest = { host: "127.0.0.1" };
  resource(lab, "case-42-guest").props.network = "bridged";
  if (plainPassphrase) Object.assign(resource(lab, "case-42-volume"), { secretKeys: [] });
  Object.assign(resource(lab, "case-42-volume").props, { encrypted: false, retain: true, fastKdfForTestsOnly: true });
  Object.assign(resource(lab, "disk-transfer").props, { readOnly: false, hashed: false });
  resource(lab, "case-42-guest").props.memoryMiB = 32768;
  resource(lab, "disk-p1-mount").props.delete = await inGuestText(
    hookFile("partition-mount", "guest-umount.sh"),
    { MOUNT_POINT: "/m" },
    "succeed",
    { ...CONNECTION, domainName: "forensic-other" },
  );
  lab.push({
    type: "command:local:Command",
    name: "stray",
    parent: "disk-nbd",
    props: { create: "qemu-nbd -c /dev/nbd1 /evidence/x.raw", delete: `echo '${"correct horse battery staple"}'` },
  });
  return lab;
}
