import * as pulumi from "@pulumi/pulumi";
import type { CaseConfig, DeviceContents, ImageConfig } from "../../lib/config";
import type { ImageManifest } from "../../lib/inspect";
import { hookResource } from "../../lib/command";
import { TYPE } from "../../lib/tokens";
import { CaseArgs, imagesWithoutManifest } from "./args";
import { caseFolderHooks, clashingNames, custodyLogPath, devicePrefix, EvidenceSummary, mountName, summarize } from "./plan";
import { AnalysisGuest } from "../analysis-guest/AnalysisGuest";
import { EvidenceVolume } from "../evidence-volume/EvidenceVolume";
import { ImageTransfer } from "../image-transfer/ImageTransfer";
import { NbdAttachment } from "../nbd-attachment/NbdAttachment";
import { PartitionMount } from "../partition-mount/PartitionMount";
import { RaidArray } from "../raid-array/RaidArray";
import { VolumeSystems } from "../volume-systems/VolumeSystems";

/** What the lab opened and mounted inside one device (an image, or an md array). */
export interface ContentsLab {
  readonly volumes: VolumeSystems;
  readonly mounts: PartitionMount[];
}

/** Everything the lab did with one image, for the stack outputs. */
export interface ImageLab extends ContentsLab {
  readonly transfer: ImageTransfer;
  readonly attachment: NbdAttachment;
}

/** Who owns the mounts: the guest image's examiner account, whose gid is its uid. */
const examinerOwner = (config: CaseConfig) => ({ examinerUid: config.guest.examinerUid, examinerGid: config.guest.examinerUid });

/** An md array over several images, and what was opened and mounted inside it. */
export interface ArrayLab extends ContentsLab {
  readonly array: RaidArray;
}

/**
 * The lab for one case. Children in create order, each waiting for what it needs:
 * EvidenceVolume (host side) -> AnalysisGuest (attaches the volume) -> case storage opened in the guest
 * -> per image: ImageTransfer (for an EWF set, then its acquisition check) -> NbdAttachment -> VolumeSystems
 * (LUKS with the image's keys, LVM) -> PartitionMount(s); then per md array over several images:
 * RaidArray (after its members' attachments) -> VolumeSystems (a NAS's LVM, LUKS) -> PartitionMount(s).
 * `pulumi destroy` walks the same graph backwards: umount, disconnect, drop transfers, close the case
 * storage, stop and undefine the guest, erase the volume.
 */
export class Case extends pulumi.ComponentResource {
  public readonly caseId: string;
  public readonly examiner: string;
  /** Per image: format, virtual size, chain (top first) and every file with its size. */
  public readonly evidence: pulumi.Output<EvidenceSummary[]>;
  public readonly volume: EvidenceVolume;
  public readonly guest: AnalysisGuest;
  public readonly images: Readonly<Record<string, ImageLab>>;
  public readonly raidArrays: Readonly<Record<string, ArrayLab>>;
  /** Host path of the custody log (JSON lines: time, action, file, sha256, who). */
  public readonly custodyLogPath: string;

  constructor(name: string, args: CaseArgs, opts: pulumi.ComponentResourceOptions = {}) {
    super(TYPE.Case, name, { caseId: args.config.caseId, examiner: args.config.examiner }, opts);
    const { config, manifests } = args;
    const clashes = clashingNames(name, config);
    if (clashes.length > 0) throw new pulumi.ResourceError(`Case '${name}': ${clashes.join("; ")}`, this);
    const missing = imagesWithoutManifest(args);
    if (missing.length > 0)
      throw new pulumi.ResourceError(`Case '${name}': manifests: no manifest for image ${missing.map((n) => `'${n}'`).join(", ")}`, this);
    this.caseId = config.caseId;
    this.examiner = config.examiner;
    this.custodyLogPath = custodyLogPath(config.stateDir);
    this.evidence = pulumi.output(config.images.map((image) => summarize(image, manifests[image.name])));

    const volumeConfig = config.evidenceVolume;
    // Keys, disks, the custody log and a file-backed volume live in the case folder. Components do not
    // pass `dependsOn` on to their children, but the SDK registers no child before its parent, nor a
    // parent before what it depends on exists: so the folder is there before any of them runs.
    const caseFolder = hookResource(`${name}-case-folder`, caseFolderHooks(config), { parent: this });

    this.volume = new EvidenceVolume(
      `${name}-volume`,
      {
        caseId: config.caseId,
        backend: volumeConfig.backend,
        ...(volumeConfig.backend === "file" ? { path: volumeConfig.path } : { volumeGroup: volumeConfig.volumeGroup }),
        sizeGiB: volumeConfig.sizeGiB,
        passphrase: config.evidenceVolumePassphrase,
        encrypted: true,
        retain: volumeConfig.retain,
        fastKdfForTestsOnly: volumeConfig.fastKdfForTestsOnly,
        libvirtUri: config.libvirtUri,
      },
      { parent: this, dependsOn: [caseFolder] },
    );

    const guestConfig = config.guest;
    this.guest = new AnalysisGuest(
      `${name}-guest`,
      {
        caseId: config.caseId,
        stateDir: config.stateDir,
        imageDir: guestConfig.imageDir,
        memoryMiB: guestConfig.memoryMiB,
        vcpus: guestConfig.vcpus,
        sshPort: guestConfig.sshPort,
        accelerator: guestConfig.accelerator,
        network: guestConfig.network,
        ...(guestConfig.network === "libvirt-isolated" ? { isolatedNetwork: guestConfig.isolatedNetwork } : {}),
        libvirtUri: config.libvirtUri,
        // The backend decides the disk kind: a file for `file`, the host's LUKS mapping for `lvm`.
        evidenceDisk: { path: this.volume.disk.apply((d) => d.path), type: volumeConfig.backend === "lvm" ? "block" : "file" },
      },
      // Ordered after the volume through `evidenceDisk` (an output of its host side). Not `dependsOn:
      // volume`: that waits for every child of the volume, including the storage opened in this guest.
      { parent: this, dependsOn: [caseFolder] },
    );
    const storage = this.volume.openIn(this.guest.connection, { dependsOn: [this.guest] });

    const images: Record<string, ImageLab> = {};
    for (const image of config.images) {
      images[image.name] = this.examineImage(name, image, manifests[image.name], config, storage.resource);
    }
    this.images = images;

    const raidArrays: Record<string, ArrayLab> = {};
    for (const array of config.raidArrays) {
      const raid = new RaidArray(
        devicePrefix.array(name, array.name),
        {
          guest: this.guest.connection,
          name: array.name,
          // Each member's nbdDevice orders the array after that image's attachment, and its removal
          // before the detach.
          members: array.members.map((m) => ({
            nbdDevice: images[m.image].attachment.nbdDevice,
            partition: m.partition,
            label: `image ${m.image} ${m.partition === 0 ? "(the whole disk)" : `partition ${m.partition}`}`,
          })),
          readOnly: true,
        },
        { parent: this },
      );
      raidArrays[array.name] = {
        array: raid,
        ...this.openAndMount(
          devicePrefix.array(name, array.name),
          `array '${array.name}'`,
          { arrayDevice: raid.device },
          array,
          config,
          raid,
        ),
      };
    }
    this.raidArrays = raidArrays;

    this.registerOutputs({
      caseId: this.caseId,
      examiner: this.examiner,
      evidence: this.evidence,
      custodyLogPath: this.custodyLogPath,
    });
  }

  /** Transfer, attach and mount one image, each step waiting for the one before through its outputs. */
  private examineImage(
    name: string,
    image: ImageConfig,
    manifest: ImageManifest,
    config: CaseConfig,
    caseStorage: pulumi.Resource,
  ): ImageLab {
    const guest = this.guest.connection;
    const transfer = new ImageTransfer(
      `${devicePrefix.image(name, image.name)}-transfer`,
      {
        guest,
        imageName: image.name,
        manifest,
        mode: image.transfer,
        readOnly: true,
        hashed: true,
        custodyLogPath: this.custodyLogPath,
        examiner: config.examiner,
        stateDir: config.stateDir,
      },
      // scp copies land on the case storage; sshfs mounts need the guest only, but a transfer that
      // outlives the storage would hold files open when it closes.
      { parent: this, dependsOn: [caseStorage] },
    );

    const attachment = new NbdAttachment(
      `${devicePrefix.image(name, image.name)}-nbd`,
      {
        guest,
        imagePath: transfer.guestTopPath,
        format: manifest.format,
        backingChain: transfer.guestChain.apply((chain) => chain.slice(1)),
        segments: transfer.guestChain.apply((chain) => [...(chain[0].segments ?? [])]),
        readOnly: true,
      },
      { parent: this, dependsOn: [transfer] },
    );

    return {
      transfer,
      attachment,
      ...this.openAndMount(
        devicePrefix.image(name, image.name),
        `image '${image.name}'`,
        { nbdDevice: attachment.nbdDevice },
        image,
        config,
        attachment,
      ),
    };
  }

  /**
   * Opens the volume systems inside one device (an image's nbd device, or an array's mapping) with its
   * keys, then mounts what its `partitions` name. Every device gets a VolumeSystems: "all" means every
   * logical volume too, and a device without volume systems costs one short hook that finds none.
   */
  private openAndMount(
    prefix: string,
    what: string,
    device: { nbdDevice: pulumi.Output<string> } | { arrayDevice: pulumi.Output<string> },
    contents: DeviceContents,
    config: CaseConfig,
    below: pulumi.Resource,
  ): ContentsLab {
    const guest = this.guest.connection;
    const volumes = new VolumeSystems(
      `${prefix}-volumes`,
      {
        guest,
        ...device,
        luks: contents.luksKeys.map((k) => {
          if (k.key === undefined)
            throw new pulumi.ResourceError(`Case '${this.caseId}': the LUKS key '${k.configKey}' of ${what} is not set`, this);
          return { at: k.at, key: k.key };
        }),
        bitlocker: contents.bitlockerKeys.map((k) => {
          if (k.key === undefined)
            throw new pulumi.ResourceError(`Case '${this.caseId}': the BitLocker key '${k.configKey}' of ${what} is not set`, this);
          return { at: k.at, key: k.key, kind: k.kind };
        }),
        readOnly: true,
      },
      { parent: this, dependsOn: [below] },
    );

    const mountArgs = { guest, ...device, volumes: volumes.volumes, readOnly: true as const, ...examinerOwner(config) };
    const mounts =
      contents.partitions === "all"
        ? [
            new PartitionMount(
              mountName(prefix),
              { ...mountArgs, partition: "all", mountRoot: contents.mountRoot },
              { parent: this, dependsOn: [volumes] },
            ),
          ]
        : contents.partitions.map(
            (p) =>
              new PartitionMount(
                mountName(prefix, p),
                {
                  ...mountArgs,
                  partition: p.logicalVolume ?? (p.number as number),
                  mountPoint: p.mountPoint,
                  extraOptions: [...p.options],
                },
                { parent: this, dependsOn: [volumes] },
              ),
          );
    return { volumes, mounts };
  }
}
