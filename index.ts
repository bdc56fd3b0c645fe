/**
 * forensic-lab: the lab for one case, from its stack config (`stacks/Pulumi.<case>.yaml`).
 *
 * Config is validated and every image inspected before any resource is registered, so a typo or a
 * broken snapshot chain stops `pulumi up` with a message naming the stack file and key, and nothing
 * half-made is left behind.
 */
import * as pulumi from "@pulumi/pulumi";
import { Case, ContentsLab } from "./components/case/Case";
import { inspectImages } from "./components/case/inspect-images";
import { formatIssue, loadCaseConfigFromPulumi, stackFileName } from "./lib/config";
import { qemuCautions } from "./lib/inspect";

/** What was opened and mounted inside an image or an array, as the stack outputs show it. */
const contentsOutputs = (lab: ContentsLab) => ({
  // Every layer opened read-only (LUKS, LVM) and those left closed, with the reason.
  volumes: lab.volumes.volumes,
  volumesLeftClosed: lab.volumes.skipped,
  mounts: pulumi.all(lab.mounts.map((m) => m.mounts)).apply((all) => all.flat()),
  // What "all" found and did not mount (swap, a PV, a LUKS volume without a key, ...), and why.
  skipped: pulumi.all(lab.mounts.map((m) => m.skipped)).apply((all) => all.flat()),
});

export = async () => {
  const stackFile = stackFileName(pulumi.getStack());
  const config = loadCaseConfigFromPulumi();
  for (const warning of config.warnings) pulumi.log.warn(formatIssue(stackFile, warning));
  const manifests = await inspectImages(config, stackFile);
  // What qemu will leave out of an image (RDONLY/NOACCESS/ZERO extents shift later sectors): say it now.
  for (const [name, manifest] of Object.entries(manifests)) {
    for (const caution of qemuCautions(manifest)) pulumi.log.warn(`image '${name}': ${caution}`);
  }

  const lab = new Case(config.caseId, { config, manifests });
  const { guest, volume } = lab;

  return {
    caseId: lab.caseId,
    examiner: lab.examiner,
    evidence: lab.evidence,
    custodyLog: lab.custodyLogPath,
    guest: {
      domain: guest.domainName,
      ssh: guest.sshCommand,
      hostKey: guest.hostKey,
      address: guest.address,
      accelerator: guest.accelerator,
    },
    evidenceVolume: {
      backingPath: volume.backingPath,
      luksVersion: volume.luksVersion,
      cipher: volume.cipher,
      retained: volume.retained,
    },
    images: Object.fromEntries(
      Object.entries(lab.images).map(([name, image]) => [
        name,
        {
          transfer: image.transfer.mode,
          guestTop: image.transfer.guestTopPath,
          hashes: image.transfer.hashes,
          acquisitionCheck: image.transfer.acquisitionCheck,
          nbdDevice: image.attachment.nbdDevice,
          partitions: image.attachment.partitions,
          ...contentsOutputs(image),
        },
      ]),
    ),
    // md arrays over several images: how each was mapped (level, state, members and roles), and what was
    // opened and mounted inside it, as for an image.
    raidArrays: Object.fromEntries(
      Object.entries(lab.raidArrays).map(([name, a]) => [name, { array: a.array.array, ...contentsOutputs(a) }]),
    ),
  };
};
