/**
 * What each real hook prints on success, for tests of the whole program under mocks: components read
 * their results from a command's stdout (`FORENSIC_LAB_RESULT {json}`), so without these the graph
 * past the first command would never resolve. The values are shaped like the real hooks' output.
 */
import type * as pulumi from "@pulumi/pulumi";
import { manifestSchema } from "../../components/image-transfer/args";
import { planTransfer } from "../../components/image-transfer/plan";
import { HOOKS } from "../../components/evidence-volume/plan";

import { hookValue, innerHook, runsHook } from "../../lib/rendered-hook";
import { hookFile } from "../../lib/hook-file";
import { CREATE_HOOK as GUEST_CREATE_HOOK } from "../../components/analysis-guest/plan";
import { ATTACH_HOOK } from "../../components/nbd-attachment/plan";
import { MOUNT_HOOK } from "../../components/partition-mount/plan";
import { OPEN_HOOK } from "../../components/volume-systems/plan";
import { ASSEMBLE_HOOK } from "../../components/raid-array/plan";
import { RESULT_MARKER } from "../../lib/shell";
import { LOCAL_COMMAND } from "../../lib/tokens";
import type { OutputsFor } from "../mocks";

export interface FakeImage {
  readonly name: string;
  /** What ImageTransfer takes: inspect's ImageManifest, or any object its manifestSchema accepts. */
  readonly manifest: unknown;
  readonly guestRoot: string;
}

const print = (result: object) => ({ stdout: `progress\n${RESULT_MARKER}${JSON.stringify(result)}` });
const fakeSha = (i: number) => i.toString(16).padStart(64, "0");
const HOST_HASH_HOOK = hookFile("image-transfer", "host-hash.sh");
const SCP_HOOK = hookFile("image-transfer", "host-scp.sh");
const SSHFS_HOOK = hookFile("image-transfer", "host-sshfs.sh");
const ACQUISITION_HOOK = hookFile("image-transfer", "host-acquisition.sh");

export function fakeHookOutputs(caseId: string, images: readonly FakeImage[]): OutputsFor {
  return (args: pulumi.runtime.MockResourceArgs) => {
    if (args.type !== LOCAL_COMMAND) return undefined;
    const create = String(args.inputs.create ?? "");
    if (runsHook(create, GUEST_CREATE_HOOK)) {
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
    // A transfer's hooks name their image in the prelude (IMAGE_NAME).
    const transferHook = [HOST_HASH_HOOK, SCP_HOOK, SSHFS_HOOK].find((hook) => runsHook(create, hook));
    const image = transferHook && images.find((i) => i.name === hookValue(create, "IMAGE_NAME"));
    if (image) {
      const files = planTransfer(manifestSchema.parse(image.manifest), image.guestRoot).files;
      if (transferHook === HOST_HASH_HOOK)
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
    if (runsHook(create, ACQUISITION_HOOK)) {
      const [md5, sha1] = [hookValue(create, "STORED_MD5"), hookValue(create, "STORED_SHA1")].map((h) => (h ? String(h) : null));
      return print({ status: "verified", storedMd5: md5, computedMd5: md5, storedSha1: sha1, computedSha1: sha1 });
    }
    if (runsHook(create, ATTACH_HOOK)) {
      return print({
        device: "/dev/nbd0",
        sectorSize: 512,
        label: "dos",
        partitions: [
          { number: 1, node: "/dev/nbd0p1", startSector: 2048, sizeSectors: 32768, type: "7", byteOffset: 1048576, sectorSize: 512 },
        ],
      });
    }
    if (runsHook(create, OPEN_HOOK)) return print({ volumes: [], skipped: [] });
    if (runsHook(create, ASSEMBLE_HOOK)) {
      return print({
        device: `/dev/mapper/fl-array-${String(hookValue(innerHook(create), "ARRAY_NAME"))}`,
        uuid: "0a1b2c3d:4e5f6071:8293a4b5:c6d7e8f9",
        metadata: "1.2",
        level: 5,
        detail: "RAID5 (raid5_ls), chunk 64 KiB",
        state: "complete",
        members: [{ device: "/dev/nbd0p1", role: 0 }],
        missingRoles: [],
        sizeBytes: 2 ** 26,
        health: "A",
      });
    }
    if (runsHook(create, MOUNT_HOOK)) return print({ mounts: [], skipped: [] });
    return undefined;
  };
}
