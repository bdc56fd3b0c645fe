import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { parseHookResult, result } from "../../lib/hook-result";
import { GuestConnection, hookCommand, inGuestCommand, renderHook } from "../../lib/shell";
import { ValidatedArgs } from "./args";
import { TransferPlan } from "./plan";

const hook = (file: string) => `components/image-transfer/${file}`;

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
      create: hookCommand(hook("scp.sh"), {
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
      delete: hookCommand(hook("scp.sh"), {
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
    hookCommand(hook("sshfs-pipe.sh"), {
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
    create: hookCommand(hook("sshfs.sh"), {
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
    delete: hookCommand(hook("sshfs.sh"), { ...sshfsCommon, ACTION: "stop" }),
  };
}

/** What host-hash.sh prints: one entry per file, in plan order. */
export const hostHashResultSchema = z.strictObject({
  files: z.array(z.strictObject({ path: result.absolutePath, sha256: result.sha256, size: result.count })),
});

/** One file of what scp.sh/sshfs.sh print. `guestSha256` is the host's own hash (sent or read back). */
const transferredFile = {
  path: result.absolutePath,
  guestPath: result.absolutePath,
  hostSha256: result.sha256,
  guestSha256: result.sha256,
  verifiedBy: z.enum(["host-sent", "host-read-back"]),
  guestReportedSha256: result.sha256,
};
const sameHashes = (f: { hostSha256: string; guestSha256: string }) => f.guestSha256 === f.hostSha256;

/** What scp.sh (ACTION=copy) and sshfs.sh (ACTION=start) print. */
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
