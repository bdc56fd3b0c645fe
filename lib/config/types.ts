import type * as pulumi from "@pulumi/pulumi";
import type { ImageFormat } from "../image-format";
import type { LibvirtTarget } from "../libvirt-uri";

/**
 * One case's configuration, validated and fully resolved: every default applied, every derived value
 * (stateDir, the evidence volume file, the guest's ssh port, mount points) filled in. Components read
 * this and never look at raw config. Made by `parseCaseConfig`, `loadStackFile` and
 * `loadCaseConfigFromPulumi` (`lib/config`).
 */
export interface CaseConfig {
  /** `^[a-z][a-z0-9-]{2,39}$`. Names the libvirt domain and the case's files. */
  readonly caseId: string;
  /** Free text (one line), recorded in the custody log. */
  readonly examiner: string;
  /** @default "qemu:///system" */
  readonly libvirtUri: string;
  /** Where `libvirtUri` points, parsed. */
  readonly libvirtHost: LibvirtTarget;
  /** Absolute. @default `/var/lib/forensic-lab/cases/<caseId>` */
  readonly stateDir: string;
  readonly guest: GuestConfig;
  readonly evidenceVolume: EvidenceVolumeConfig;
  /**
   * The evidence volume's LUKS passphrase as a Pulumi secret Output, never a plain string, so it cannot
   * reach a log by accident. Always set when parsed with `requirePassphrase: true` (the program);
   * `undefined` when read from a stack file, whose `secure:` value only the Pulumi engine can decrypt.
   */
  readonly evidenceVolumePassphrase: pulumi.Output<string> | undefined;
  /** At least one; names unique. */
  readonly images: readonly ImageConfig[];
  /** md arrays whose members lie in several images (a NAS's disks), each opened read-only. @default [] */
  readonly raidArrays: readonly RaidArrayConfig[];
  /** Findings that do not stop the lab (a passphrase still to be set, a weak test KDF). */
  readonly warnings: readonly ConfigIssue[];
}

/** A config problem: `key` is the full key path (`forensic-lab:images[1].path`), or "" for the file itself. */
export interface ConfigIssue {
  readonly key: string;
  readonly message: string;
}

export type GuestNetwork = "user-restricted" | "libvirt-isolated";
export type Accelerator = "auto" | "kvm" | "tcg";

interface GuestCommon {
  /** Absolute folder with `vmlinuz`, `initrd.img`, `rootfs.qcow2`. @default "/var/lib/forensic-lab/guest-image/current" */
  readonly imageDir: string;
  /** 512..65536. @default 2048 */
  readonly memoryMiB: number;
  /** 1..64. @default 2 */
  readonly vcpus: number;
  /** @default "auto": KVM where it works, QEMU software emulation otherwise. */
  readonly accelerator: Accelerator;
  /**
   * Host port (on the libvirt host's loopback) forwarded to the guest's sshd, 1024..65535.
   * @default derived from caseId: `deriveSshPort(caseId)`, 22000..31999.
   */
  readonly sshPort: number;
  /** Whether `sshPort` came from the stack (`configured`) or from `deriveSshPort` (`derived`). */
  readonly sshPortSource: "configured" | "derived";
  /** uid/gid in the guest owning the read-only mounts, 1000..60000. @default 1000 */
  readonly examinerUid: number;
}

export type GuestConfig = GuestCommon &
  (
    | { readonly network: "user-restricted" }
    | {
        readonly network: "libvirt-isolated";
        /** A libvirt network without `<forward>`. */
        readonly isolatedNetwork: string;
      }
  );

interface EvidenceVolumeCommon {
  /** > 0, <= 16384. @default 20 */
  readonly sizeGiB: number;
  /** Keep the volume on destroy. @default false: destroy crypto-erases it. */
  readonly retain: boolean;
  /** Weak PBKDF for CI/test stacks only, never for real cases. @default false */
  readonly fastKdfForTestsOnly: boolean;
}

export type EvidenceVolumeConfig = EvidenceVolumeCommon &
  (
    | {
        readonly backend: "file";
        /** Absolute path of the LUKS container file. @default `<stateDir>/evidence.luks` */
        readonly path: string;
      }
    | {
        readonly backend: "lvm";
        /** The LVM volume group (on the libvirt host) the case's logical volume is made in. */
        readonly volumeGroup: string;
      }
  );

export { IMAGE_FORMATS, type ImageFormat } from "../image-format";
export type TransferMode = "sshfs" | "scp";

/**
 * What the lab opens and mounts inside one device: an image, or an md array over several (whose contents
 * are partition 0).
 */
export interface DeviceContents {
  /**
   * Folder in the guest under which default mount points lie (`p<N>`, `lvm/<vg>/<lv>`):
   * `/mnt/forensic/<image>`, `/mnt/forensic/arrays/<array>`.
   */
  readonly mountRoot: string;
  /**
   * "all" (every partition and every logical volume holding a filesystem), or the listed partitions and
   * logical volumes with mount points resolved. @default "all"
   */
  readonly partitions: "all" | readonly PartitionConfig[];
  /** The LUKS volumes to open, each with the secret config key of its passphrase. @default [] */
  readonly luksKeys: readonly LuksKeyConfig[];
  /**
   * The BitLocker volumes (on partitions) to open, each with the secret config key of its passphrase or
   * recovery password (`bitlockerKeys`) or of its startup key file (`bitlockerStartupKeys`). @default []
   */
  readonly bitlockerKeys: readonly BitLockerKeyConfig[];
}

export interface ImageConfig extends DeviceContents {
  /** `^[a-z0-9][a-z0-9-]{0,31}$`, unique within the case. */
  readonly name: string;
  /** Absolute path of the top image file on the machine running Pulumi; `inspect` finds the rest. */
  readonly path: string;
  /** `undefined`: detected from the file's magic by `inspect`. */
  readonly format: ImageFormat | undefined;
  /** @default "sshfs" */
  readonly transfer: TransferMode;
  /**
   * Further folders the image's files may lie in, beyond its default evidence roots (the folder that
   * really holds the top file, and that folder's parent unless it is `/` or top-level). A folder inside
   * a system folder (`/var/lib/forensic-lab/ci-evidence`) must be named here to be usable at all.
   * Never `/`, a system folder or one holding it, nor the lab's own state. @default []
   */
  readonly roots: readonly string[];
}

export interface RaidArrayConfig extends DeviceContents {
  /** `^[a-z0-9][a-z0-9-]{0,31}$`, not ending in `-r<digits>`; unique. Its mapping: `/dev/mapper/fl-array-<name>`. */
  readonly name: string;
  /** The members there are, each a partition (0: the whole disk) of an image of this case; roles come from their superblocks. */
  readonly members: readonly { readonly image: string; readonly partition: number }[];
}

export interface PartitionConfig {
  /** 0..128 (0: the whole disk); absent for a logical volume. */
  readonly number?: number;
  /** `vg/lv`; absent for a partition. */
  readonly logicalVolume?: string;
  /** Absolute, in the guest. @default `<mountRoot>/p<number>`, or `<mountRoot>/lvm/<vg>/<lv>` */
  readonly mountPoint: string;
  /** Extra mount options, added to the lab's read-only ones; never removing any. @default [] */
  readonly options: readonly string[];
}

/** One BitLocker volume inside an image and where its passphrase or recovery password is kept. */
export interface BitLockerKeyConfig extends LuksKeyConfig {
  /** The partition number (0: the whole disk) holding the BitLocker volume. */
  readonly at: number;
  /**
   * `password`: the user passphrase or the 48-digit recovery password (`bitlockerKeys`); `startupKey`:
   * the startup key file (.BEK), base64-encoded (`bitlockerStartupKeys`).
   */
  readonly kind: "password" | "startupKey";
}

/** One LUKS volume inside an image and where its passphrase is kept. */
export interface LuksKeyConfig {
  /** The partition number (0: the whole disk) or logical volume `vg/lv` holding the LUKS header. */
  readonly at: number | string;
  /** The secret config key (without namespace) holding the passphrase: `pulumi config set --secret <it>`. */
  readonly configKey: string;
  /** The passphrase as a secret Output; `undefined` outside a Pulumi program (check-config). */
  readonly key: pulumi.Output<string> | undefined;
}
