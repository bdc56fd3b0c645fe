/**
 * The pure half of EvidenceVolume: validated args -> the volume's names and the values each hook gets.
 * The component (`EvidenceVolume.ts`) only wires these into commands, so tests can check every decision
 * without an engine.
 */
import { z } from "zod";
import { hookFile } from "../../lib/hook-file";
import { result } from "../../lib/hook-result";
import type { HookValue } from "../../lib/shell";
import { EvidenceBackend, parseVolumeArgs } from "./args";

/** What every new volume is formatted as. An existing volume is reported as found, never changed. */
export const LUKS_FORMAT = { type: "luks2", version: 2, cipher: "aes-xts-plain64", keyBits: 512 } as const;

/** The disk serial the guest attaches the evidence volume with, and the path that gives it in the guest. */
export const EVIDENCE_DISK_SERIAL = "forensic-evidence";
export const GUEST_EVIDENCE_DEVICE = `/dev/disk/by-id/virtio-${EVIDENCE_DISK_SERIAL}`;

/** Where the decrypted case storage is mounted in the guest, and who owns a freshly made filesystem. */
export const CASE_MOUNT_POINT = "/case";
export const CASE_OWNER = "examiner";

/** LVM tag on every logical volume the lab creates: the delete hook erases only volumes carrying it. */
export const LV_TAG = "forensic-lab-evidence";

export const HOOKS = {
  backingCreate: hookFile("evidence-volume", "host-backing-create.sh"),
  backingDelete: hookFile("evidence-volume", "host-backing-delete.sh"),
  luksOpen: hookFile("evidence-volume", "any-luks-open.sh"),
  luksClose: hookFile("evidence-volume", "any-luks-close.sh"),
  storageMount: hookFile("evidence-volume", "guest-storage-mount.sh"),
  storageUmount: hookFile("evidence-volume", "guest-storage-umount.sh"),
};

/** The disk an AnalysisGuest attaches (serial `forensic-evidence`): a plain file, or a block device. */
export interface EvidenceDisk {
  readonly path: string;
  readonly type: "file" | "block";
}

const GIB = 1024 ** 3;

export interface VolumePlan {
  readonly caseId: string;
  readonly backend: EvidenceBackend;
  readonly sizeBytes: number;
  readonly retain: boolean;
  readonly fastKdf: boolean;
  readonly libvirtUri: string;
  /** The sparse file, or the logical volume's `/dev/<vg>/<lv>` path. */
  readonly backingPath: string;
  /** `forensic-<caseId>`: the LV's name and the LUKS mapping's, on the host (lvm) or in the guest (file). */
  readonly mapperName: string;
  /** Empty for the file backend. */
  readonly volumeGroup: string;
  readonly lvName: string;
  /** Where `cryptsetup open` runs: below the guest (lvm) or inside it (file). */
  readonly luksWhere: "host" | "guest";
  /** What the guest attaches. */
  readonly disk: EvidenceDisk;
}

/** Validates the arguments (args.ts) and works out the volume's names; throws an Error naming every bad field. */
export function planVolume(args: unknown): VolumePlan {
  const a = parseVolumeArgs(args);
  const mapperName = `forensic-${a.caseId}`;
  const base = {
    caseId: a.caseId,
    backend: a.backend,
    sizeBytes: a.sizeGiB * GIB,
    retain: a.retain,
    fastKdf: a.fastKdfForTestsOnly,
    libvirtUri: a.libvirtUri,
    mapperName,
  };
  if (a.backend === "file") {
    return { ...base, backingPath: a.path, volumeGroup: "", lvName: "", luksWhere: "guest", disk: { path: a.path, type: "file" } };
  }
  return {
    ...base,
    backingPath: `/dev/${a.volumeGroup}/${mapperName}`,
    volumeGroup: a.volumeGroup,
    lvName: mapperName,
    luksWhere: "host",
    disk: { path: `/dev/mapper/${mapperName}`, type: "block" },
  };
}

type Values = Record<string, HookValue>;

/**
 * The file backend's mark (hooks/host-mark.sh): which case made the volume file. Checked before a file is
 * adopted or erased, so a stack pointed at somebody else's file, or at another case's retained volume,
 * never formats or erases it.
 */
export function volumeMark(caseId: string): string {
  return `forensic-lab case ${caseId}`;
}

/** host-backing-create.sh / host-backing-delete.sh (host). */
export function backingValues(plan: VolumePlan): { create: Values; delete: Values } {
  const where = {
    BACKEND: plan.backend,
    BACKING_PATH: plan.backingPath,
    VOLUME_GROUP: plan.volumeGroup,
    LV_NAME: plan.lvName,
    LV_TAG,
    VOLUME_MARK: volumeMark(plan.caseId),
  };
  return { create: { ...where, SIZE_BYTES: plan.sizeBytes }, delete: { ...where, RETAIN: plan.retain } };
}

/** any-luks-open.sh / any-luks-close.sh, on the host (lvm: the LV) or in the guest (file: the attached disk). */
export function luksValues(plan: VolumePlan): { open: Values; close: Values } {
  // On the host the mapping's plaintext is the guest's to write: the hooks shield it from the host's
  // udev while it is open (hooks/host-shield.sh).
  const onHost = plan.luksWhere === "host";
  return {
    open: {
      DEVICE: onHost ? plan.backingPath : GUEST_EVIDENCE_DEVICE,
      MAPPER_NAME: plan.mapperName,
      VOLUME_NAME: plan.backingPath,
      LUKS_TYPE: LUKS_FORMAT.type,
      LUKS_CIPHER: LUKS_FORMAT.cipher,
      LUKS_KEY_BITS: LUKS_FORMAT.keyBits,
      FAST_KDF: plan.fastKdf,
      ON_HOST: onHost,
    },
    close: { MAPPER_NAME: plan.mapperName, ON_HOST: onHost },
  };
}

/** guest-storage-mount.sh / guest-storage-umount.sh (guest). */
export function storageValues(plan: VolumePlan): { mount: Values; umount: Values } {
  return {
    mount: {
      // The guest sees the decrypted device directly (lvm), or opens it itself (file).
      DEVICE: plan.luksWhere === "host" ? GUEST_EVIDENCE_DEVICE : `/dev/mapper/${plan.mapperName}`,
      MOUNT_POINT: CASE_MOUNT_POINT,
      OWNER: CASE_OWNER,
    },
    umount: { MOUNT_POINT: CASE_MOUNT_POINT },
  };
}

/** What host-backing-create.sh prints. `luks` is the header found on an existing volume, null when blank. */
/** What host-backing-create.sh prints. */
export const backingResultSchema = z.strictObject({
  backingPath: result.absolutePath,
  sizeBytes: z.number().int().positive(),
  created: z.boolean(),
  luks: z.strictObject({ version: z.number().int().min(1).max(2), cipher: z.string().regex(/^[a-z0-9-]+$/) }).nullable(),
});

/** What any-luks-open.sh prints. */
export const luksOpenResultSchema = z.strictObject({
  mapperPath: z.string().regex(/^\/dev\/mapper\/[A-Za-z0-9_.-]+$/, "must be a /dev/mapper/ device"),
  luksVersion: z.number().int().min(1).max(2),
  cipher: z.string().regex(/^[a-z0-9-]+$/),
  keyBits: z.number().int().positive(),
  formatted: z.boolean(),
  opened: z.boolean(),
});

/** What guest-storage-mount.sh prints. */
export const storageMountResultSchema = z.strictObject({
  mountPoint: result.absolutePath,
  device: result.absolutePath.refine((d) => d.startsWith("/dev/"), "must be a device under /dev"),
  filesystem: z.string().regex(/^[a-z0-9]+$/),
  formatted: z.boolean(),
  mounted: z.boolean(),
});

export interface BackingResult {
  readonly backingPath: string;
  readonly sizeBytes: number;
  readonly created: boolean;
  readonly luks: { readonly version: number; readonly cipher: string } | null;
}

/** What any-luks-open.sh prints. */
export interface LuksOpenResult {
  readonly mapperPath: string;
  readonly luksVersion: number;
  readonly cipher: string;
  readonly keyBits: number;
  readonly formatted: boolean;
  readonly opened: boolean;
}

/** What guest-storage-mount.sh prints. */
export interface StorageMountResult {
  readonly mountPoint: string;
  readonly device: string;
  readonly filesystem: string;
  readonly formatted: boolean;
  readonly mounted: boolean;
}
