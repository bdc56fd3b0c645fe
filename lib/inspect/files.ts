/**
 * File access for inspection: stat before open (a FIFO or device is never opened), open read-only and
 * non-blocking, keep access times untouched where the kernel allows it, and read only the byte ranges a
 * caller names. Names are joined the way qemu joins them; only `dir/..` steps whose `dir` is a real
 * folder are folded, so a symlinked folder keeps its physical meaning. The walk (`inspect.ts`) then
 * resolves each file (realpath), checks it against the evidence roots and opens the resolved name.
 */
import { constants, promises as fsp, Stats } from "fs";
import * as path from "path";
import { InspectError } from "./errors";

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
// O_NOATIME needs the file's owner or CAP_FOWNER; without it open() fails with EPERM and we retry plainly.
const NOATIME = constants.O_NOATIME ?? 0;

/** Why a path is not a regular file, in the words an examiner expects. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isBlockDevice()) return "a block device";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

function describeErrno(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return "no such file";
    case "ENOTDIR":
      return "no such file (a folder in its path is not a folder)";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "file name too long";
    case "EIO":
      return "input/output error";
    default:
      return `cannot read (${err.code ?? err.message})`;
  }
}

// By shape, not `instanceof Error`: errors from fs may come from another realm (jest's sandbox, vm).
function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return typeof err === "object" && err !== null && typeof (err as NodeJS.ErrnoException).code === "string";
}

/** `role` says why the file is needed, e.g. "parent of /x/snap.vmdk"; it is appended to errors. */
function withRole(problem: string, role: string | undefined): string {
  return role ? `${problem} (${role})` : problem;
}

/** stat() that turns every failure, and anything but a regular file, into an InspectError. */
export async function statRegular(file: string, role?: string): Promise<Stats> {
  let st: Stats;
  try {
    st = await fsp.stat(file);
  } catch (err) {
    if (isErrno(err)) throw new InspectError(file, withRole(describeErrno(err), role));
    throw err;
  }
  if (!st.isFile()) throw new InspectError(file, withRole(`is ${kindOf(st)}, not a regular file`, role));
  return st;
}

/** Identity of a file across names (hard links, symlinks, `a/../a`): device and inode. */
export function identity(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

/** An open, verified regular file: read fixed ranges, then close. */
export class ImageFile {
  private constructor(
    readonly path: string,
    readonly size: number,
    readonly id: string,
    private readonly handle: fsp.FileHandle,
  ) {}

  static async open(file: string, role?: string): Promise<ImageFile> {
    const st = await statRegular(file, role);
    let handle: fsp.FileHandle;
    try {
      handle = await openQuietly(file);
    } catch (err) {
      if (isErrno(err)) throw new InspectError(file, withRole(describeErrno(err), role));
      throw err;
    }
    try {
      // Whatever was stat'ed must be what got opened: a swap in between is refused, not followed.
      const opened = await handle.stat();
      if (!opened.isFile() || identity(opened) !== identity(st)) {
        throw new InspectError(file, withRole("changed while being inspected", role));
      }
      // A caller that checked where `file` resolves to opens that resolved name; a folder swapped for a
      // link in between would land elsewhere, and the kernel says where the descriptor really points.
      const landed = await openedPath(handle);
      if (landed !== null && landed !== file && path.posix.isAbsolute(file) && (await realOrSelf(file)) === file) {
        throw new InspectError(file, withRole(`changed while being inspected (opened ${landed})`, role));
      }
      return new ImageFile(file, opened.size, identity(opened), handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The first bytes read from offset 0, kept: headers and embedded descriptors are mostly inside. */
  private head: Buffer | null = null;

  /** Up to `length` bytes from `offset`; shorter only at end of file. */
  async read(offset: number, length: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(length, this.size - offset));
    if (this.head && offset + want <= this.head.length) return this.head.subarray(offset, offset + want);
    const bytes = await this.readFromDisk(offset, want);
    if (offset === 0 && (this.head === null || bytes.length > this.head.length)) this.head = bytes;
    return bytes;
  }

  private async readFromDisk(offset: number, want: number): Promise<Buffer> {
    const buffer = Buffer.alloc(want);
    let done = 0;
    try {
      while (done < want) {
        const { bytesRead } = await this.handle.read(buffer, done, want - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      if (isErrno(err)) throw new InspectError(this.path, describeErrno(err));
      throw err;
    }
    return done === want ? buffer : buffer.subarray(0, done);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** What /proc says an open descriptor points at, or null where /proc is not there to ask. */
async function openedPath(handle: fsp.FileHandle): Promise<string | null> {
  try {
    return await fsp.readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    return null;
  }
}

async function realOrSelf(file: string): Promise<string> {
  try {
    return await fsp.realpath(file);
  } catch {
    return file;
  }
}

async function openQuietly(file: string): Promise<fsp.FileHandle> {
  if (NOATIME) {
    try {
      return await fsp.open(file, OPEN_FLAGS | NOATIME);
    } catch (err) {
      if (!isErrno(err) || err.code !== "EPERM") throw err;
    }
  }
  return fsp.open(file, OPEN_FLAGS);
}

/** Runs `work` with the file open and always closes it. */
export async function withImageFile<T>(file: string, role: string | undefined, work: (f: ImageFile) => Promise<T>): Promise<T> {
  const image = await ImageFile.open(file, role);
  try {
    return await work(image);
  } finally {
    await image.close();
  }
}

/**
 * Resolves a name found in an image the way qemu does: absolute names as they are, relative names
 * against the folder of the file that holds them. The result is normalised text (no `//`, `.` or
 * `..`), not yet realpath'd (the walk does that before checking the roots). Each `..` is folded only
 * where that names the same file the kernel would open: after a real folder it is folded as text;
 * after a symlinked folder the kernel goes to the link target's parent, so that folder is resolved
 * (realpath) first; after something missing or not a folder it stays, and opening the path fails as
 * it would for qemu.
 */
export class PathResolver {
  private readonly folders = new Map<string, string | "dir" | "unusable">();

  async resolve(baseDir: string, name: string): Promise<string> {
    const joined = name.startsWith("/") ? name : `${baseDir}/${name}`;
    let out: string[] = [];
    for (const part of joined.split("/")) {
      if (part === "" || part === ".") continue;
      if (part !== "..") {
        out.push(part);
        continue;
      }
      if (out.length === 0) continue; // `/..` is `/`
      const folder = out[out.length - 1] === ".." ? "unusable" : await this.folder(`/${out.join("/")}`);
      if (folder === "unusable") {
        out.push("..");
        continue;
      }
      if (folder !== "dir") out = folder.split("/").filter((p) => p !== "");
      out.pop();
    }
    return `/${out.join("/")}`;
  }

  /** The folder holding a file, for resolving the names written inside it. */
  dirOf(file: string): string {
    return path.posix.dirname(file);
  }

  /** "dir" for a real folder, its realpath for a symlink to a folder, "unusable" otherwise. */
  private async folder(dir: string): Promise<string | "dir" | "unusable"> {
    let known = this.folders.get(dir);
    if (known === undefined) {
      try {
        const st = await fsp.lstat(dir);
        if (st.isDirectory()) known = "dir";
        else if (st.isSymbolicLink() && (await fsp.stat(dir)).isDirectory()) known = await fsp.realpath(dir);
        else known = "unusable";
      } catch {
        known = "unusable";
      }
      this.folders.set(dir, known);
    }
    return known;
  }
}
