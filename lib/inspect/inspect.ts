/**
 * Walks an image from its top file down to its base: each layer's format from its content, its extents
 * or data file, its parent from the descriptor or header. Reads only descriptors and fixed-size headers.
 * Nothing is executed and nothing but regular files is opened.
 */
import { FormatError, InspectError, displayPath, quoteValue } from "./errors";
import { promises as fsp } from "fs";
import { ImageFile, PathResolver, identity, statRegular, withImageFile } from "./files";
import { PROBE_BYTES, Signature, describeSignature, formatOf, identify, needsTail } from "./probe";
import { readQcow2Header } from "./qcow2";
import { inspectEwfSet, isFirstEwfSegment } from "./ewf";
import {
  IMAGE_FORMATS,
  QEMU_FORMATS,
  type Acquisition,
  type ExtentInfo,
  type FileInfo,
  type ImageFormat,
  type ImageManifest,
  type LayerInfo,
} from "./types";
import { readVdiVirtualSize } from "./vdi";
import { DESCRIPTOR_LIMIT, NO_PARENT_CID, TEXT_CREATE_TYPES, VmdkDescriptor, parseDescriptor } from "./vmdk-descriptor";
import { SparseHeader, readCowdHeader, readKdmvHeader, readSeSparseHeader } from "./vmdk-sparse";
import { readVhdxVirtualSize } from "./vhdx";
import { readVpcVirtualSize } from "./vpc";
import { EvidenceRoots, type RootOptions } from "./roots";

/** Deeper than this is not a real snapshot chain (VMware stops far earlier); it is refused. */
export const MAX_CHAIN_DEPTH = 1000;

/** Extent headers read at the same time within one layer. */
const EXTENT_CONCURRENCY = 8;

const SECTOR = 512;

export interface InspectOptions extends RootOptions {
  /** The top file's format when known; checked against its content. raw must be given to accept a raw disk without a partition table. */
  format?: ImageFormat;
  /** Also stream every file once and fill in `sha256`. @default false */
  hash?: boolean;
}

/** What the walk needs to know about the next layer. */
interface LayerRequest {
  path: string;
  /** Format the caller or the child layer declares; checked against the content. */
  declaredFormat: ImageFormat | null;
  /** Why that format is expected, for messages. */
  declaredBy: string;
  /** Why the file is needed ("parent of /x/y.vmdk"); added to file errors. */
  role?: string;
  child: { path: string; parentCid: number | null } | null;
}

interface LayerResult {
  layer: LayerInfo;
  /** The layer's own file first, then extents and data files. */
  files: FileInfo[];
  virtualSize: number;
  cid: number | null;
  next: LayerRequest | null;
  /** What an evidence container (EWF) says about the acquisition. */
  acquisition?: Acquisition;
}

const hex32 = (n: number): string => n.toString(16).padStart(8, "0");

export async function inspectLayers(topPath: string, options: InspectOptions = {}): Promise<ImageManifest> {
  if (typeof topPath !== "string" || topPath === "") throw new InspectError(String(topPath ?? ""), "no image file given");
  if (topPath.includes("\0")) throw new InspectError(topPath, "file name contains a NUL byte");
  if (options.format !== undefined && !IMAGE_FORMATS.includes(options.format)) {
    throw new InspectError(topPath, `unknown format ${quoteValue(String(options.format))} (one of ${IMAGE_FORMATS.join(", ")})`);
  }
  const resolver = new PathResolver();
  const top = await resolver.resolve(process.cwd(), topPath);
  const roots = await EvidenceRoots.forImage(top, options);
  const place = placer(roots);
  const seen = new Map<string, string>();
  const chain: LayerInfo[] = [];
  const files = new Map<string, FileInfo>();
  let virtualSize = 0;
  let acquisition: Acquisition | undefined;
  let request: LayerRequest | null = {
    path: top,
    declaredFormat: options.format ?? null,
    declaredBy: "as requested",
    child: null,
  };
  while (request) {
    if (chain.length === MAX_CHAIN_DEPTH) {
      throw new InspectError(chain[0].path, `snapshot chain is deeper than ${MAX_CHAIN_DEPTH} layers`);
    }
    const result: LayerResult = await inspectLayer(request, resolver, place, seen);
    if (request.child?.parentCid != null && result.cid !== null && result.cid !== request.child.parentCid) {
      throw new InspectError(
        request.child.path,
        `parentCID ${hex32(request.child.parentCid)} does not match CID ${hex32(result.cid)} of parent ${displayPath(request.path)}`,
      );
    }
    if (chain.length === 0) {
      virtualSize = result.virtualSize;
      acquisition = result.acquisition;
    }
    // The child named its parent as the image wrote it; the manifest names it where it really is.
    if (chain.length > 0) chain[chain.length - 1].parentPath = result.layer.path;
    chain.push(result.layer);
    for (const f of result.files) if (!files.has(f.path)) files.set(f.path, f);
    request = result.next;
  }
  return { format: chain[0].format, virtualSize, chain, files: [...files.values()], ...(acquisition ? { acquisition } : {}) };
}

/**
 * Where a file named by the image really is (symlinks resolved), once it is known to lie under the
 * image's evidence roots: that resolved path is what is opened, hashed, transferred and attached.
 */
type Placer = (named: string, role: string | undefined) => Promise<string>;

function placer(roots: EvidenceRoots): Placer {
  return async (named, role) => {
    let real: string;
    try {
      real = await fsp.realpath(named);
    } catch {
      // Missing or unreadable: opening it reports why, in the same words as for any other file.
      return named;
    }
    const problem = roots.problem(real);
    if (problem !== undefined) {
      const via = real === named ? "" : ` (it resolves to ${displayPath(real)})`;
      throw new InspectError(named, withRole(`${problem}${via}`, role));
    }
    return real;
  };
}

async function inspectLayer(request: LayerRequest, resolver: PathResolver, place: Placer, seen: Map<string, string>): Promise<LayerResult> {
  const real = await place(request.path, request.role);
  return withImageFile(real, request.role, async (file) => {
    const earlier = seen.get(file.id);
    if (earlier !== undefined && request.child) {
      const problem =
        earlier === request.child.path
          ? `its parent ${displayPath(request.path)} is the file itself`
          : `its parent ${displayPath(request.path)} is already in the chain (as ${displayPath(earlier)}): the chain loops`;
      throw new InspectError(request.child.path, problem);
    }
    seen.set(file.id, request.path);
    if (file.size === 0) throw new InspectError(file.path, withRole("empty file (0 bytes)", request.role));

    const head = await file.read(0, PROBE_BYTES);
    let sig = identify(head, null);
    if (needsTail(sig) && file.size >= SECTOR) sig = identify(head, await file.read(file.size - SECTOR, SECTOR));
    const format = decideFormat(file.path, sig, request);
    const ctx: LayerContext = { file, sig, resolver, place, request };
    try {
      switch (format) {
        case "vmdk":
          return await inspectVmdk(ctx);
        case "qcow2":
          return await inspectQcow2(ctx);
        case "vdi":
          return single(ctx, "vdi", await readVdiVirtualSize(file));
        case "vhdx":
          return single(ctx, "vhdx", await readVhdxVirtualSize(file));
        case "vpc":
          return single(ctx, "vpc", await readVpcVirtualSize(file, sig.kind === "vpc" && sig.footerAtEnd));
        case "raw":
          return single(ctx, "raw", file.size);
        case "ewf":
          return await inspectEwf(ctx);
      }
    } catch (err) {
      if (err instanceof FormatError) throw new InspectError(file.path, err.message);
      throw err;
    }
  });
}

function withRole(problem: string, role: string | undefined): string {
  return role ? `${problem} (${role})` : problem;
}

/** The format to open a layer as: the content's, checked against whatever was declared. */
function decideFormat(file: string, sig: Signature, request: LayerRequest): ImageFormat {
  const declared = request.declaredFormat;
  if (sig.kind === "ewf" && request.child) {
    throw new InspectError(file, withRole("is an EWF segment, which qemu cannot open as a backing file", request.role));
  }
  if (sig.kind === "unsupported") {
    // A raw copy of an encrypted partition starts with a LUKS header and is still a raw disk.
    if (declared === "raw" && sig.name === "a LUKS container") return "raw";
    throw new InspectError(file, withRole(`is ${sig.name}, which is not supported (${IMAGE_FORMATS.join(", ")})`, request.role));
  }
  const found = formatOf(sig);
  if (declared === "raw") {
    if (sig.kind === "vmdk-descriptor" && !sig.certain) return "raw";
    if (found !== null && found !== "raw")
      throw new InspectError(
        file,
        withRole(`expected raw (${request.declaredBy}), but the file is ${describeSignature(sig)}`, request.role),
      );
    return "raw";
  }
  if (declared !== null) {
    if (found !== declared)
      throw new InspectError(
        file,
        withRole(`expected ${declared} (${request.declaredBy}), but the file is ${describeSignature(sig)}`, request.role),
      );
    return declared;
  }
  if (found === null) {
    const advice = request.child
      ? `and ${displayPath(request.child.path)} does not record its format`
      : `if it really is a raw disk, give the format explicitly (raw)`;
    throw new InspectError(
      file,
      withRole(`not a recognised disk image (no VMDK, qcow2, VDI, VHDX or VHD signature, no MBR or GPT); ${advice}`, request.role),
    );
  }
  return found;
}

interface LayerContext {
  file: ImageFile;
  sig: Signature;
  resolver: PathResolver;
  place: Placer;
  request: LayerRequest;
}

function single(ctx: LayerContext, format: ImageFormat, virtualSize: number): LayerResult {
  return {
    layer: { path: ctx.file.path, format, createType: null, cid: null, parentCid: null, parentPath: null, extents: [] },
    files: [{ path: ctx.file.path, size: ctx.file.size }],
    virtualSize,
    cid: null,
    next: null,
  };
}

/**
 * A parent or data file name must name a file. qemu treats `word:` before the first `/` as a protocol
 * (`nbd:`, `http:`, `json:`), which would make it connect somewhere; and a Windows path from a
 * VMware host is not something qemu on Linux can open.
 */
function requireFileName(name: string, holder: string, what: string): void {
  if (/^[A-Za-z]:[\\/]/.test(name) || name.startsWith("\\\\")) {
    throw new InspectError(holder, `${what} ${quoteValue(name)} is a Windows path; qemu cannot follow it here`);
  }
  const colon = name.indexOf(":");
  const slash = name.indexOf("/");
  if (colon >= 0 && (slash < 0 || colon < slash)) {
    throw new InspectError(
      holder,
      `${what} ${quoteValue(name)} names a protocol (${quoteValue(name.slice(0, colon + 1))}), not a file; refusing to follow it`,
    );
  }
}

// ---- VMDK ----------------------------------------------------------------------------------------

async function inspectVmdk(ctx: LayerContext): Promise<LayerResult> {
  const { file, sig } = ctx;
  if (sig.kind === "vmdk-cowd" || sig.kind === "vmdk-sesparse") {
    throw new InspectError(
      file.path,
      `is a bare ${sig.kind === "vmdk-cowd" ? "vmfsSparse (COWD)" : "seSparse"} extent, not a disk: open the descriptor (.vmdk) that lists it`,
    );
  }
  if (sig.kind === "vmdk-descriptor") {
    if (file.size > DESCRIPTOR_LIMIT) {
      throw new InspectError(
        file.path,
        `descriptor too large (${file.size} bytes; a VMDK descriptor is at most ${DESCRIPTOR_LIMIT / 1024 / 1024} MiB)`,
      );
    }
    const text = (await file.read(0, file.size)).toString("latin1");
    return textDescriptorLayer(ctx, parseDescriptor(text, false));
  }

  const header = await readKdmvHeader(file);
  const descriptorText = async (): Promise<string> =>
    (await file.read(header.descriptorOffset * SECTOR, header.descriptorSize * SECTOR)).toString("latin1");
  if (header.capacity === 0) {
    // qemu's "descriptor wrapped in a sparse header": the embedded text lists other files.
    return textDescriptorLayer(ctx, parseDescriptor(await descriptorText(), false));
  }
  if (header.descriptorOffset === 0) {
    throw new InspectError(file.path, "is a sparse extent without a descriptor of its own: open the descriptor (.vmdk) that lists it");
  }
  if (header.descriptorOffset !== 1) {
    throw new InspectError(file.path, `embedded descriptor starts at sector ${header.descriptorOffset}, but qemu reads it at sector 1`);
  }
  const embeddedText = await descriptorText();
  if (embeddedText.replace(/[\0\s]/g, "") === "") {
    throw new InspectError(file.path, "is a sparse extent without a descriptor of its own: open the descriptor (.vmdk) that lists it");
  }
  const descriptor = parseDescriptor(embeddedText, true);
  const createType = descriptor.createType ?? (header.compressed ? "streamOptimized" : "monolithicSparse");
  const extents: ExtentInfo[] = [{ path: file.path, access: "RW", sectors: header.capacity, type: "SPARSE" }];
  return vmdkResult(ctx, descriptor, createType, extents, [{ path: file.path, size: file.size }], header.capacity);
}

async function textDescriptorLayer(ctx: LayerContext, descriptor: VmdkDescriptor): Promise<LayerResult> {
  const { file, resolver, place } = ctx;
  const createType = descriptor.createType!;
  if (!TEXT_CREATE_TYPES.has(createType)) {
    const why =
      createType === "monolithicSparse" || createType === "streamOptimized"
        ? "belongs inside a sparse file, and qemu refuses it in a separate descriptor"
        : "is not supported by qemu";
    throw new InspectError(file.path, `createType ${quoteValue(createType)} ${why}`);
  }
  if (descriptor.extents.length === 0) throw new InspectError(file.path, "descriptor lists no extents");
  const dir = resolver.dirOf(file.path);
  const resolved = await mapLimit(descriptor.extents, EXTENT_CONCURRENCY, async (ext) => {
    if (ext.fileName === null) return { info: { path: null, access: ext.access, sectors: ext.sectors, type: ext.type }, file: null };
    const named = await resolver.resolve(dir, ext.fileName);
    const role = `extent on line ${ext.line} of ${displayPath(file.path)}`;
    const extentPath = await place(named, role);
    if (extentPath !== named) {
      // The guest gets each file under its resolved name, and qemu looks for an extent under the name
      // its descriptor uses: a linked extent would be missing there (or be another file).
      throw new InspectError(
        named,
        `is a symbolic link (it resolves to ${displayPath(extentPath)}); an extent must be the file its descriptor names: put the file itself there (${role})`,
      );
    }
    const selfReference = (): InspectError =>
      new InspectError(file.path, `extent on line ${ext.line} (${quoteValue(ext.fileName!)}) is the descriptor itself`);
    let size: number;
    if (ext.type === "FLAT" || ext.type === "VMFS") {
      const st = await statRegular(extentPath, role);
      if (identity(st) === file.id) throw selfReference();
      const needed = (ext.offsetSectors + ext.sectors) * SECTOR;
      if (st.size < needed) {
        throw new InspectError(extentPath, `flat extent is ${st.size} bytes, but ${role} needs ${needed} (truncated copy?)`);
      }
      size = st.size;
    } else {
      size = await withImageFile(extentPath, role, async (extent) => {
        if (extent.id === file.id) throw selfReference();
        const header = await readSparseExtentHeader(extent, ext.type, role);
        if (header.capacity !== ext.sectors) {
          throw new InspectError(extentPath, `extent header says ${header.capacity} sectors, but ${role} says ${ext.sectors}`);
        }
        return extent.size;
      });
    }
    return { info: { path: extentPath, access: ext.access, sectors: ext.sectors, type: ext.type }, file: { path: extentPath, size } };
  });
  // qemu reads only RW extents (it skips RDONLY, NOACCESS and ZERO lines), so its disk is their sum.
  const qemuSectors = descriptor.extents.filter((e) => e.access === "RW" && e.type !== "ZERO").reduce((sum, e) => sum + e.sectors, 0);
  if (qemuSectors === 0) throw new InspectError(file.path, "no extent qemu can read (qemu reads only RW extents with a file)");
  const files: FileInfo[] = [{ path: file.path, size: file.size }];
  for (const r of resolved) if (r.file) files.push(r.file);
  return vmdkResult(
    ctx,
    descriptor,
    createType,
    resolved.map((r) => r.info),
    files,
    qemuSectors,
  );
}

async function readSparseExtentHeader(extent: ImageFile, type: string, role: string): Promise<SparseHeader> {
  try {
    const magic = (await extent.read(0, 8)).toString("latin1");
    if (type === "SESPARSE") return await readSeSparseHeader(extent);
    if (magic.startsWith("KDMV")) {
      const header = await readKdmvHeader(extent);
      if (header.capacity === 0) throw new FormatError("holds a descriptor, not extent data");
      return header;
    }
    if (magic.startsWith("COWD")) return await readCowdHeader(extent);
    throw new FormatError(`is not a sparse extent (no KDMV or COWD signature)`);
  } catch (err) {
    if (err instanceof FormatError) throw new InspectError(extent.path, `${err.message} (${role})`);
    throw err;
  }
}

async function vmdkResult(
  ctx: LayerContext,
  descriptor: VmdkDescriptor,
  createType: string,
  extents: ExtentInfo[],
  files: FileInfo[],
  sectors: number,
): Promise<LayerResult> {
  const { file, resolver } = ctx;
  let next: LayerRequest | null = null;
  let parentPath: string | null = null;
  if (descriptor.parentHint !== null) {
    requireFileName(descriptor.parentHint, file.path, "parentFileNameHint");
    parentPath = await resolver.resolve(resolver.dirOf(file.path), descriptor.parentHint);
    next = {
      path: parentPath,
      // qemu opens a VMDK's parent as VMDK, whatever the parent file is.
      declaredFormat: "vmdk",
      declaredBy: "qemu opens a VMDK's parent as VMDK",
      role: `parent of ${displayPath(file.path)}`,
      child: { path: file.path, parentCid: descriptor.parentCid },
    };
  } else if (descriptor.parentCid !== NO_PARENT_CID) {
    throw new InspectError(
      file.path,
      `parentCID ${hex32(descriptor.parentCid)} says there is a parent, but there is no parentFileNameHint`,
    );
  }
  return {
    layer: {
      path: file.path,
      format: "vmdk",
      createType,
      cid: hex32(descriptor.cid),
      parentCid: hex32(descriptor.parentCid),
      parentPath,
      extents,
    },
    files,
    virtualSize: sectors * SECTOR,
    cid: descriptor.cid,
    next,
  };
}

// ---- qcow2 ---------------------------------------------------------------------------------------

async function inspectQcow2(ctx: LayerContext): Promise<LayerResult> {
  const { file, resolver } = ctx;
  const header = await readQcow2Header(file);
  const dir = resolver.dirOf(file.path);
  const files: FileInfo[] = [{ path: file.path, size: file.size }];

  if (header.dataFile !== null) {
    requireFileName(header.dataFile, file.path, "external data file");
    // qemu opens a data file by the name in the header (relative names against its own working
    // directory), and the lab cannot pin that name as it pins backing files: qemu in the guest would
    // open a file the host never hashed. Refused rather than half-supported.
    throw new InspectError(
      file.path,
      `keeps its data in the external file ${quoteValue(header.dataFile)}, which the lab does not support (qemu would open that name unchecked in the guest); convert it to a self-contained image first (qemu-img convert -O qcow2)`,
    );
  }

  let next: LayerRequest | null = null;
  let parentPath: string | null = null;
  if (header.backingFile !== null) {
    requireFileName(header.backingFile, file.path, "backing file");
    const declared = header.backingFormat;
    if (declared !== null && !(QEMU_FORMATS as readonly string[]).includes(declared)) {
      throw new InspectError(file.path, `backing format ${quoteValue(declared)} is not one of ${QEMU_FORMATS.join(", ")}`);
    }
    parentPath = await resolver.resolve(dir, header.backingFile);
    next = {
      path: parentPath,
      declaredFormat: declared as ImageFormat | null,
      declaredBy: `the backing format ${displayPath(file.path)} records`,
      role: `backing file of ${displayPath(file.path)}`,
      child: { path: file.path, parentCid: null },
    };
  }
  return {
    layer: { path: file.path, format: "qcow2", createType: null, cid: null, parentCid: null, parentPath, extents: [] },
    files,
    virtualSize: header.virtualSize,
    cid: null,
    next,
  };
}

// ---- EWF -----------------------------------------------------------------------------------------

/**
 * An EWF image is one layer made of a segment set: the first segment names it, the others are found
 * by name beside it (`ewf.ts`), each checked against the evidence roots before it is opened.
 */
async function inspectEwf(ctx: LayerContext): Promise<LayerResult> {
  const { file, place } = ctx;
  if (!isFirstEwfSegment(file.path)) {
    throw new InspectError(file.path, "is an EWF segment; name the set by its first segment, '<name>.E01'");
  }
  const set = await inspectEwfSet(file.path, { place });
  const files: FileInfo[] = [];
  for (const segment of set.segments) files.push({ path: segment, size: (await statRegular(segment)).size });
  return {
    layer: { path: file.path, format: "ewf", createType: null, cid: null, parentCid: null, parentPath: null, extents: [] },
    files,
    virtualSize: set.mediaSize,
    cid: null,
    next: null,
    acquisition: {
      container: "ewf",
      segments: set.segments.length,
      setIdentifier: set.setIdentifier,
      bytesPerSector: set.bytesPerSector,
      sectorCount: set.sectorCount,
      md5: set.md5,
      sha1: set.sha1,
    },
  };
}

/** `Promise.all(items.map(fn))` with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let nextIndex = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && nextIndex < items.length) {
      const i = nextIndex++;
      try {
        results[i] = await fn(items[i]);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
