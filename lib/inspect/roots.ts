/**
 * Where an image's files may come from. The image is hostile: a qcow2 backing file, a VMDK parent hint
 * or extent can name any path (`/root/.ssh/id_ed25519` declared raw), and whatever `inspect` accepts is
 * hashed, logged as evidence and copied into the guest. So every file of a chain must resolve (symlinks
 * followed) to a place under the image's evidence roots:
 *
 * - by default the folder that really holds the top file, and that folder's parent when the parent is
 *   not `/` or a top-level folder like `/tmp` (the case folder holding `base/` and `snapshots/`);
 * - plus the folders given explicitly (`images[].roots`, `forensic-lab inspect --root`).
 *
 * System folders (`PROTECTED_FOLDERS`) are never reached through a default root: a file in one is
 * accepted only under an explicit root that lies inside it (`/var/lib/forensic-lab/ci-evidence`).
 * The lab's own state (`FORBIDDEN_FOLDERS`, the case's state folder, Pulumi's state) is never evidence.
 */
import { promises as fsp } from "fs";
import * as os from "os";
import * as path from "path";
import { InspectError, displayPath } from "./errors";

/** Folders an image may use only under an explicit root inside them, never through a default root. */
export const PROTECTED_FOLDERS: readonly string[] = [
  "/etc",
  "/root",
  "/home",
  "/proc",
  "/sys",
  "/dev",
  "/run",
  "/boot",
  "/var/lib/forensic-lab",
];

/** The lab's own state on every host: case folders (keys, disks, custody logs) and guest images. */
export const FORBIDDEN_FOLDERS: readonly string[] = ["/var/lib/forensic-lab/cases", "/var/lib/forensic-lab/guest-image"];

/** `inner` is `outer` or lies below it (both normalised absolute paths). */
export function isWithin(inner: string, outer: string): boolean {
  return inner === outer || outer === "/" || inner.startsWith(`${outer}/`);
}

/**
 * Pulumi's own state on this host: its home (credentials, plugins, the default file backend) and a
 * `file://` backend named by PULUMI_BACKEND_URL.
 */
export function pulumiStateFolders(env: NodeJS.ProcessEnv = process.env): string[] {
  const folders = [env.PULUMI_HOME || path.join(os.homedir(), ".pulumi")];
  const backend = env.PULUMI_BACKEND_URL ?? "";
  if (backend.startsWith("file://")) {
    const folder = backend.slice("file://".length).replace(/^~(?=\/|$)/, os.homedir());
    if (folder.startsWith("/")) folders.push(path.posix.normalize(folder));
  }
  return folders;
}

/** realpath, or `null` when the path does not exist (yet). */
async function realOrNull(p: string): Promise<string | null> {
  try {
    return await fsp.realpath(p);
  } catch {
    return null;
  }
}

/**
 * Where a path that may not exist yet would be: its nearest existing ancestor resolved, plus the rest as
 * written. Used for folders to protect and for paths the lab is about to create.
 */
export async function resolveMaybeMissing(p: string): Promise<string> {
  const normal = path.posix.normalize(p);
  const rest: string[] = [];
  let at = normal;
  for (;;) {
    const real = await realOrNull(at);
    if (real !== null) return rest.length === 0 ? real : path.posix.join(real, ...rest.reverse());
    if (at === "/") return normal;
    rest.push(path.posix.basename(at));
    at = path.posix.dirname(at);
  }
}

export interface RootOptions {
  /** Folders given explicitly; may lie inside a protected folder, never be or contain one. */
  readonly roots?: readonly string[];
  /** Further folders no evidence file may be in (the case's state folder). */
  readonly forbidden?: readonly string[];
}

/** An explicit root that cannot be used: which one (its index) and why. */
export class RootError extends InspectError {
  constructor(
    readonly index: number,
    root: string,
    problem: string,
  ) {
    super(root, problem);
    this.name = "RootError";
  }
}

/** The roots and refusals one image is checked against, all resolved. */
export class EvidenceRoots {
  private constructor(
    /** Default roots, resolved: never `/`, never in or over a protected folder's files without an explicit root. */
    readonly defaults: readonly string[],
    /** Explicit roots, resolved, in the order given. */
    readonly explicit: readonly string[],
    /** Lab state, resolved: never evidence. */
    readonly forbidden: readonly string[],
    /** PROTECTED_FOLDERS as written and resolved. */
    private readonly protectedFolders: readonly string[],
  ) {}

  /** Every root, defaults first. */
  get all(): string[] {
    return [...new Set([...this.defaults, ...this.explicit])];
  }

  /**
   * The roots for an image whose top file is `top` (absolute, as the walk resolved it). Throws a
   * RootError for an explicit root that is missing, not a folder, `/`, a protected folder or a folder
   * holding one, or inside the lab's own state.
   */
  static async forImage(top: string, options: RootOptions = {}): Promise<EvidenceRoots> {
    const forbidden = await Promise.all(
      [...FORBIDDEN_FOLDERS, ...pulumiStateFolders(), ...(options.forbidden ?? [])].map(resolveMaybeMissing),
    );
    const protectedReal = await Promise.all(PROTECTED_FOLDERS.map(resolveMaybeMissing));
    const protectedFolders = [...new Set([...PROTECTED_FOLDERS, ...protectedReal])];
    const explicit: string[] = [];
    for (const [index, root] of (options.roots ?? []).entries()) {
      if (!root.startsWith("/")) throw new RootError(index, root, "evidence root must be an absolute folder");
      let real: string;
      try {
        real = await fsp.realpath(root);
        if (!(await fsp.stat(real)).isDirectory()) throw new RootError(index, root, "evidence root is not a folder");
      } catch (err) {
        if (err instanceof RootError) throw err;
        throw new RootError(index, root, "evidence root does not exist (or cannot be read)");
      }
      const shown = real === root ? "" : ` (it resolves to ${displayPath(real)})`;
      if (real === "/") throw new RootError(index, root, `evidence root is '/'${shown}: name the folder that holds the evidence`);
      const over = protectedFolders.find((p) => isWithin(p, real));
      if (over !== undefined) {
        throw new RootError(
          index,
          root,
          `evidence root holds the system folder ${displayPath(over)}${shown}: name the evidence folder inside it`,
        );
      }
      const lab = forbidden.find((f) => isWithin(real, f) || isWithin(f, real));
      if (lab !== undefined) throw new RootError(index, root, `evidence root overlaps the lab's own state ${displayPath(lab)}${shown}`);
      explicit.push(real);
    }

    const realTop = (await realOrNull(top)) ?? top;
    const folder = path.posix.dirname(realTop);
    const parent = path.posix.dirname(folder);
    const defaults: string[] = [];
    if (folder !== "/") defaults.push(folder);
    // The case folder, so `snapshots/` may name `../base/`; never `/` or a shared top-level folder (`/tmp`).
    if (folder !== "/" && parent !== "/" && path.posix.dirname(parent) !== "/") defaults.push(parent);
    return new EvidenceRoots(defaults, explicit, forbidden, protectedFolders);
  }

  /**
   * Why the file at `real` (resolved) may not be part of the image, or `undefined`. Lab state is never
   * evidence; a protected folder only under an explicit root inside it; anything else under any root.
   */
  problem(real: string): string | undefined {
    const lab = this.forbidden.find((f) => isWithin(real, f));
    if (lab !== undefined) return `lies in the lab's own state ${displayPath(lab)}; an image may never bring it`;
    const system = this.protectedFolders.find((p) => isWithin(real, p));
    if (system !== undefined) {
      if (this.explicit.some((r) => isWithin(r, system) && isWithin(real, r))) return undefined;
      return `lies in the system folder ${displayPath(system)}; an image may only bring its own files (if this really is evidence, add its folder inside ${displayPath(system)} to the image's roots)`;
    }
    if (this.all.some((r) => isWithin(real, r))) return undefined;
    const roots = this.all.map(displayPath).join(", ") || "none";
    return `lies outside the image's evidence roots (${roots}); an image may only bring its own files (if it really belongs to the image, add its folder to the image's roots)`;
  }
}
