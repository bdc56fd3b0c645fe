/**
 * What each real hook prints on success, for tests of the whole program under mocks: components read
 * their results from a command's stdout (`FORENSIC_LAB_RESULT {json}`), so without these the graph
 * past the first command would never resolve. The values are shaped like the real hooks' output.
 */
import type * as pulumi from "@pulumi/pulumi";
import { manifestSchema } from "../../components/image-transfer/args";
import { planTransfer } from "../../components/image-transfer/plan";
import { HOOKS } from "../../components/evidence-volume/plan";
import type { ImageManifest } from "../../lib/inspect";
import { runsHook } from "../../lib/rendered-hook";
import { RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND } from "../../lib/tokens";
import type { OutputsFor } from "../mocks";

export interface FakeImage {
  readonly name: string;
  readonly manifest: ImageManifest;
  readonly guestRoot: string;
}

const print = (result: object) => ({ stdout: `progress\n${RESULT_MARKER}${JSON.stringify(result)}` });
const fakeSha = (i: number) => i.toString(16).padStart(64, "0");

export function fakeHookOutputs(caseId: string, images: readonly FakeImage[]): OutputsFor {
  return (args: pulumi.runtime.MockResourceArgs) => {
    if (args.type !== LOCAL_COMMAND) return undefined;
    const create = String(args.inputs.create ?? "");
    if (create.includes("analysis-guest/create.sh")) {
      return print({
        domainName: `forensic-${caseId}`,
        outcome: "created",
        accelerator: "tcg",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTests",
        host: "127.0.0.1",
        port: 2222,
        user: "root",
        privateKeyPath: `/var/lib/forensic-lab/cases/${caseId}/keys/id_ed25519`,
        knownHostsPath: `/var/lib/forensic-lab/cases/${caseId}/keys/known_hosts`,
        jumpHost: "",
        libvirtUri: "qemu:///system",
        bootSeconds: 13,
      });
    }
    if (runsHook(create, HOOKS.backingCreate)) {
      return print({
        backingPath: `/var/lib/forensic-lab/cases/${caseId}/evidence.luks`,
        sizeBytes: 2 * 2 ** 30,
        created: true,
        luks: null,
      });
    }
    if (runsHook(create, HOOKS.luksOpen)) {
      return print({
        mapperPath: `/dev/mapper/forensic-${caseId}`,
        luksVersion: 2,
        cipher: "aes-xts-plain64",
        keyBits: 512,
        formatted: true,
        opened: true,
      });
    }
    if (runsHook(create, HOOKS.storageMount))
      return print({ mountPoint: "/case", device: "/dev/dm-0", filesystem: "ext4", formatted: true, mounted: true });
    const image = images.find((i) => args.name.includes(`-${i.name}-transfer-`));
    if (image) {
      const files = planTransfer(manifestSchema.parse(image.manifest), image.guestRoot).files;
      if (args.name.endsWith("-host-hash"))
        return print({ files: files.map((f, i) => ({ path: f.hostPath, sha256: fakeSha(i), size: f.size })) });
      return print({
        files: files.map((f, i) => ({
          path: f.hostPath,
          guestPath: f.guestPath,
          hostSha256: fakeSha(i),
          guestSha256: fakeSha(i),
          verifiedBy: "host-sent",
          guestReportedSha256: fakeSha(i),
          copied: true,
        })),
      });
    }
    if (create.includes("nbd-attachment/attach.sh")) {
      return print({
        device: "/dev/nbd0",
        sectorSize: 512,
        label: "dos",
        partitions: [
          { number: 1, node: "/dev/nbd0p1", startSector: 2048, sizeSectors: 32768, type: "7", byteOffset: 1048576, sectorSize: 512 },
        ],
      });
    }
    if (create.includes("partition-mount/mount.sh")) return print({ mounts: [], skipped: [] });
    return undefined;
  };
}
