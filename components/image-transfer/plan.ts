/**
 * The pure half of ImageTransfer: validated args -> where each file goes (folders, guest paths, the
 * guest's chain), then the host and guest hook texts of each step and the checks of what they print.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { hookFile, HookFileName } from "../../lib/hook-file";
import { parseHookResult, result } from "../../lib/hook-result";
import { LAYERED_FORMATS } from "../../lib/image-format";
import { GuestConnection, hookCommand, inGuestCommand, renderHook } from "../../lib/shell";
import { ImageFormat, TransferManifest, ValidatedArgs } from "./args";

/** One layer of the chain as the guest sees it. */
export interface GuestLayer {
  readonly path: string;
  readonly format: ImageFormat;
  /** An EWF set only: every segment's guest path, first (`path`) first. */
  readonly segments?: readonly string[];
}

export interface PlannedFile {
  readonly hostPath: string;
  readonly guestPath: string;
  readonly size: number;
  /** From the manifest when `inspect` hashed; the host hash must then match it. */
  readonly manifestSha256?: string;
  /** Index of the folder (and, for sshfs, of the mount) the file belongs to. */
  readonly folder: number;
}

export interface PlannedFolder {
  readonly hostFolder: string;
  /** `<guestRoot>/layer-folders/<n>`: for sshfs a mount point, for scp a plain folder. */
  readonly guestFolder: string;
  readonly files: readonly PlannedFile[];
}

export interface TransferPlan {
  readonly guestRoot: string;
  readonly folders: readonly PlannedFolder[];
  /** Every file once, in folder order: the order hooks hash, copy and report in. */
  readonly files: readonly PlannedFile[];
  /** Top first, guest paths: what NbdAttachment pins the backing chain with. */
  readonly guestChain: readonly GuestLayer[];
}

/**
 * Lays the files out in the guest. Each distinct host folder becomes `<guestRoot>/layer-folders/<n>`
 * (numbered in order of first use, top layer first) and keeps its files' names, so every descriptor's
 * relative extent names still resolve. Parent hints inside descriptors are never followed or rewritten:
 * the chain is pinned from `guestChain` instead.
 */
export function planTransfer(manifest: TransferManifest, guestRoot: string): TransferPlan {
  const sizes = new Map<string, { size: number; sha256?: string }>();
  for (const [i, f] of manifest.files.entries()) {
    if (sizes.has(f.path)) throw new Error(`ImageTransfer manifest.files[${i}].path: '${f.path}' is listed twice`);
    sizes.set(f.path, { size: f.size, sha256: f.sha256 });
  }
  for (const [i, layer] of manifest.chain.entries()) {
    if (!sizes.has(layer.path)) {
      throw new Error(`ImageTransfer manifest.chain[${i}].path: '${layer.path}' is not in manifest.files`);
    }
    for (const [j, extent] of (layer.extents ?? []).entries()) {
      if (extent.path === null) continue;
      const where = `ImageTransfer manifest.chain[${i}].extents[${j}].path`;
      if (!sizes.has(extent.path)) throw new Error(`${where}: '${extent.path}' is not in manifest.files`);
      if (path.dirname(extent.path) !== path.dirname(layer.path)) {
        throw new Error(`${where}: '${extent.path}' is not in the folder of its descriptor '${layer.path}'`);
      }
    }
  }
  if (manifest.chain[0].format !== manifest.format) {
    throw new Error(`ImageTransfer manifest.format: '${manifest.format}' differs from the top layer's '${manifest.chain[0].format}'`);
  }
  if (manifest.format === "ewf") {
    // The guest opens the set by its segments' names side by side (ewfmount, ewfverify): one folder.
    if (manifest.chain.length !== 1) throw new Error("ImageTransfer manifest.chain: an EWF set is one layer");
    if (manifest.files[0].path !== manifest.chain[0].path) {
      throw new Error("ImageTransfer manifest.files[0].path: an EWF set's files are its segments, the first one first");
    }
    for (const [i, f] of manifest.files.entries()) {
      if (path.dirname(f.path) !== path.dirname(manifest.chain[0].path)) {
        throw new Error(`ImageTransfer manifest.files[${i}].path: '${f.path}' is not beside the set's first segment`);
      }
    }
    if (manifest.acquisition === undefined) throw new Error("ImageTransfer manifest.acquisition: an EWF set's stored hashes are missing");
  }

  // Folders in order of first use: chain layers top first, then any further file the manifest lists.
  const ordered = [...manifest.chain.map((l) => l.path), ...manifest.files.map((f) => f.path)];
  const folderIndex = new Map<string, number>();
  for (const p of ordered) {
    const dir = path.dirname(p);
    if (!folderIndex.has(dir)) folderIndex.set(dir, folderIndex.size);
  }
  const guestFolder = (n: number) => path.posix.join(guestRoot, "layer-folders", String(n));
  const guestPathOf = (hostPath: string) => path.posix.join(guestFolder(folderIndex.get(path.dirname(hostPath))!), path.basename(hostPath));

  const folders: PlannedFolder[] = [...folderIndex.entries()].map(([hostFolder, n]) => ({
    hostFolder,
    guestFolder: guestFolder(n),
    files: manifest.files
      .filter((f) => path.dirname(f.path) === hostFolder)
      .map((f) => ({
        hostPath: f.path,
        guestPath: guestPathOf(f.path),
        size: f.size,
        folder: n,
        ...(f.sha256 !== undefined ? { manifestSha256: f.sha256 } : {}),
      })),
  }));
  return {
    guestRoot,
    folders,
    files: folders.flatMap((f) => f.files),
    guestChain: manifest.chain.map((l) => ({
      path: guestPathOf(l.path),
      format: l.format,
      ...(l.format === "ewf" ? { segments: manifest.files.map((f) => guestPathOf(f.path)) } : {}),
    })),
  };
}

/** QEMU block options, as `--image-opts`/`json:` take them. */
export type BlockOptions = { [key: string]: string | boolean | null | BlockOptions };

/**
 * Block options that open the chain exactly as transferred: each layer's backing is the next guest
 * path, never the parent hint inside the image (which may name a path on the evidence's own machine,
 * like the absolute `parentFileNameHint` of a VMware snapshot). The base gets `backing: null`.
 */
export function pinnedChainOptions(chain: readonly GuestLayer[], readOnly = true): BlockOptions {
  if (chain.length === 0) throw new Error("pinnedChainOptions: the chain is empty");
  let below: BlockOptions | null = null;
  for (const layer of [...chain].reverse()) {
    const node: BlockOptions = {
      driver: layer.format,
      ...(readOnly ? { "read-only": true } : {}),
      file: { driver: "file", filename: layer.path, ...(readOnly ? { "read-only": true } : {}) },
    };
    if (below !== null) {
      if (!LAYERED_FORMATS.has(layer.format))
        throw new Error(`pinnedChainOptions: a ${layer.format} layer cannot have a backing file ('${layer.path}')`);
      node.backing = below;
    } else if (LAYERED_FORMATS.has(layer.format)) {
      node.backing = null;
    }
    below = node;
  }
  return below!;
}

/** The `json:` pseudo-filename QEMU tools accept for the pinned chain. */
export function pinnedChainFilename(chain: readonly GuestLayer[]): string {
  return `json:${JSON.stringify(pinnedChainOptions(chain))}`;
}

// --- the hook texts of each step, from the plan ---

const hook = (file: HookFileName) => hookFile("image-transfer", file);

/** How long the guest waits for freshly started sshfs mounts to answer (TCG guests are slow). */
export const MOUNT_WAIT_SECONDS = 120;

/** Rendered create/delete texts of one step. */
export interface StepHooks<T> {
  readonly create: T;
  readonly delete: T;
}

/** Host files of one image's sshfs pipes: per folder a pid file, fifo, log and jail skeleton. */
export function pipeStatePaths(stateDir: string, imageName: string, folders: number) {
  const dir = path.join(stateDir, "image-transfer", imageName);
  const each = (f: (n: number) => string) => Array.from({ length: folders }, (_, n) => f(n));
  return {
    dir,
    pidFiles: each((n) => path.join(dir, `sftp-${n}.pid`)),
    fifos: each((n) => path.join(dir, `sftp-${n}.fifo`)),
    logFiles: each((n) => path.join(dir, `sftp-${n}.log`)),
    jailDirs: each((n) => path.join(dir, `jail-${n}`)),
  };
}

/** The host hash step: hash before anything moves; on destroy, close the custody record. */
export function hostHashHooks(args: ValidatedArgs, plan: TransferPlan): StepHooks<string> {
  const common = {
    IMAGE_NAME: args.imageName,
    HOST_FILES: plan.files.map((f) => f.hostPath),
    CUSTODY_LOG: args.custodyLogPath,
    EXAMINER: args.examiner,
  };
  return {
    create: renderHook(hook("host-hash.sh"), {
      ...common,
      MANIFEST_SIZES: plan.files.map((f) => String(f.size)),
      MANIFEST_SHA256: plan.files.map((f) => f.manifestSha256 ?? ""),
    }),
    delete: renderHook(hook("host-release.sh"), common),
  };
}

/**
 * The transfer step for the chosen mode. `hostSha256` (one per `plan.files`, from the host hash step)
 * is what the guest's hashes must equal; only the create text needs it.
 */
export function transferHooks(
  guest: pulumi.Input<GuestConnection>,
  args: ValidatedArgs,
  plan: TransferPlan,
  hostSha256: pulumi.Input<readonly string[]>,
): StepHooks<pulumi.Output<string>> {
  const common = {
    IMAGE_NAME: args.imageName,
    HOST_FILES: plan.files.map((f) => f.hostPath),
    GUEST_PATHS: plan.files.map((f) => f.guestPath),
    CUSTODY_LOG: args.custodyLogPath,
    EXAMINER: args.examiner,
  };
  const layerDir = path.posix.join(plan.guestRoot, "layer-folders");
  const guestFolders = plan.folders.map((f) => f.guestFolder);

  if (args.mode === "scp") {
    return {
      create: hookCommand(hook("host-scp.sh"), {
        ...common,
        ACTION: "copy",
        HOST_SHA256: hostSha256 as pulumi.Input<string[]>,
        GUEST_STATUS_HOOK: inGuestCommand(
          guest,
          hook("guest-hash.sh"),
          { PATHS: common.GUEST_PATHS, WAIT_MOUNTS: [], WAIT_SECONDS: 0, MISSING_OK: true },
          "fail",
        ),
        GUEST_RECEIVE_HOOK: inGuestCommand(
          guest,
          hook("guest-receive.sh"),
          { DESTS: common.GUEST_PATHS, SHA256S: hostSha256 as pulumi.Input<string[]> },
          "fail",
        ),
        GUEST_READ_HOOK: inGuestCommand(guest, hook("guest-read.sh"), { PATHS: common.GUEST_PATHS }, "fail"),
      }),
      delete: hookCommand(hook("host-scp.sh"), {
        ...common,
        ACTION: "remove",
        GUEST_REMOVE_HOOK: inGuestCommand(
          guest,
          hook("guest-remove.sh"),
          { DESTS: common.GUEST_PATHS, FOLDERS: guestFolders, LAYER_DIR: layerDir, GUEST_ROOT: plan.guestRoot },
          "succeed",
        ),
      }),
    };
  }

  const state = pipeStatePaths(args.stateDir, args.imageName, plan.folders.length);
  const sshfsCommon = {
    ...common,
    STATE_DIR: state.dir,
    PID_FILES: state.pidFiles,
    FIFOS: state.fifos,
    JAIL_DIRS: state.jailDirs,
    LOG_FILES: state.logFiles,
    GUEST_UNMOUNT_HOOK: inGuestCommand(
      guest,
      hook("guest-unmount.sh"),
      { MOUNT_POINTS: guestFolders, LAYER_DIR: layerDir, GUEST_ROOT: plan.guestRoot },
      "succeed",
    ),
  };
  const pipes = plan.folders.map((folder, n) =>
    hookCommand(hook("host-sshfs-pipe.sh"), {
      IMAGE_NAME: args.imageName,
      FOLDER_INDEX: n,
      PID_FILE: state.pidFiles[n],
      FIFO: state.fifos[n],
      JAIL_DIR: state.jailDirs[n],
      HOST_FILES: folder.files.map((f) => f.hostPath),
      GUEST_MOUNT_HOOK: inGuestCommand(guest, hook("guest-sshfs-mount.sh"), { MOUNT_POINT: folder.guestFolder }, "fail"),
    }),
  );
  return {
    create: hookCommand(hook("host-sshfs.sh"), {
      ...sshfsCommon,
      ACTION: "start",
      PIPES: pulumi.all(pipes),
      HOST_SHA256: hostSha256 as pulumi.Input<string[]>,
      GUEST_HASH_HOOK: inGuestCommand(
        guest,
        hook("guest-hash.sh"),
        { PATHS: common.GUEST_PATHS, WAIT_MOUNTS: guestFolders, WAIT_SECONDS: MOUNT_WAIT_SECONDS, MISSING_OK: false },
        "fail",
      ),
      GUEST_READ_HOOK: inGuestCommand(guest, hook("guest-read.sh"), { PATHS: common.GUEST_PATHS }, "fail"),
    }),
    delete: hookCommand(hook("host-sshfs.sh"), { ...sshfsCommon, ACTION: "stop" }),
  };
}

/**
 * An EWF set's acquisition check, after the transfer: the guest runs ewfverify over the segments once,
 * the host logs the outcome and stops `up` when the data does not match the stored hashes. Destroy has
 * nothing to undo (the check changed nothing, and its custody lines stay).
 */
export function acquisitionHooks(
  guest: pulumi.Input<GuestConnection>,
  args: ValidatedArgs,
  plan: TransferPlan,
): StepHooks<pulumi.Output<string>> {
  const acquisition = args.manifest.acquisition;
  const segments = plan.guestChain[0].segments;
  if (acquisition === undefined || segments === undefined) throw new Error("acquisitionHooks: not an EWF set");
  return {
    create: hookCommand(hook("host-acquisition.sh"), {
      IMAGE_NAME: args.imageName,
      HOST_FIRST_SEGMENT: plan.files[0].hostPath,
      GUEST_FIRST_SEGMENT: segments[0],
      STORED_MD5: acquisition.md5 ?? "",
      STORED_SHA1: acquisition.sha1 ?? "",
      CUSTODY_LOG: args.custodyLogPath,
      EXAMINER: args.examiner,
      GUEST_VERIFY_HOOK: inGuestCommand(guest, hook("guest-ewf-verify.sh"), { SEGMENTS: [...segments] }, "fail"),
    }),
    delete: pulumi.output(": nothing to undo: the acquisition check changed nothing"),
  };
}

/** What host-acquisition.sh prints. The hashes are the guest's report (ewfverify); the host vouches for none of them. */
export const acquisitionResultSchema = z.strictObject({
  status: z.enum(["verified", "unverifiable"]),
  storedMd5: result.md5.nullable(),
  computedMd5: result.md5.nullable(),
  storedSha1: result.sha1.nullable(),
  computedSha1: result.sha1.nullable(),
});
export type AcquisitionCheck = z.infer<typeof acquisitionResultSchema>;

/** What host-hash.sh prints: one entry per file, in plan order. */
export const hostHashResultSchema = z.strictObject({
  files: z.array(z.strictObject({ path: result.absolutePath, sha256: result.sha256, size: result.count })),
});

/** One file of what host-scp.sh/host-sshfs.sh print. `guestSha256` is the host's own hash (sent or read back). */
const transferredFile = {
  path: result.absolutePath,
  guestPath: result.absolutePath,
  hostSha256: result.sha256,
  guestSha256: result.sha256,
  verifiedBy: z.enum(["host-sent", "host-read-back"]),
  guestReportedSha256: result.sha256,
};
const sameHashes = (f: { hostSha256: string; guestSha256: string }) => f.guestSha256 === f.hostSha256;

/** What host-scp.sh (ACTION=copy) and host-sshfs.sh (ACTION=start) print. */
export const transferResultSchema = z.union([
  z.strictObject({
    files: z.array(z.strictObject({ ...transferredFile, copied: z.boolean() }).refine(sameHashes, "guestSha256 must equal hostSha256")),
  }),
  z.strictObject({
    files: z.array(z.strictObject(transferredFile).refine(sameHashes, "guestSha256 must equal hostSha256")),
    pipesStarted: z.array(result.count),
    pipesReused: z.array(result.count),
  }),
]);

/** One file's hashes as the transfer step reports them, both computed by the host. */
export interface CheckedFileHashes {
  readonly path: string;
  readonly guestPath: string;
  readonly hostSha256: string;
  readonly guestSha256: string;
}

/**
 * Reads the host hash step's stdout: one hash per planned file, in plan order, for the size planned.
 * `hook` names the step in errors.
 */
export function checkHostHashResult(stdout: string, plan: TransferPlan, hook: string): string[] {
  const { files } = parseHookResult(stdout, hostHashResultSchema, hook);
  if (files.length !== plan.files.length)
    throw new Error(`${hook}: result rejected: ${files.length} hashes for ${plan.files.length} files`);
  return plan.files.map((f, i) => {
    if (files[i].path !== f.hostPath || files[i].size !== f.size) throw new Error(`${hook}: result rejected: no hash for '${f.hostPath}'`);
    return files[i].sha256;
  });
}

/**
 * Reads the transfer step's stdout: by the result-line rule and schema, then file by file against the
 * plan and the host hash step's hashes (`hostSha256`). Anything else fails, naming `hook`.
 */
export function checkTransferResult(stdout: string, plan: TransferPlan, hostSha256: readonly string[], hook: string): CheckedFileHashes[] {
  const { files } = parseHookResult(stdout, transferResultSchema, hook);
  if (files.length !== plan.files.length) throw new Error(`${hook}: result rejected: ${files.length} files for ${plan.files.length}`);
  return plan.files.map((f, i) => {
    const got = files[i];
    if (got.path !== f.hostPath || got.guestPath !== f.guestPath || got.hostSha256 !== hostSha256[i]) {
      throw new Error(`${hook}: result rejected: files[${i}] is not '${f.hostPath}' -> '${f.guestPath}' with the host hash step's sha256`);
    }
    return { path: got.path, guestPath: got.guestPath, hostSha256: got.hostSha256, guestSha256: got.guestSha256 };
  });
}
