import { Invocation, ResolvedWord } from "./shell-text";

/**
 * Which invocations could write to what they open. The rule for every tool that attaches or mounts
 * evidence: its read-only flag is on the invocation itself (ARCHITECTURE.md, "Read-only must be visible
 * in the text"), and no flag turns writing back on. Queries and detaches (`mount` with no arguments,
 * `qemu-nbd --disconnect`, `losetup -d`) change nothing and pass.
 */

interface OptionSpec {
  /** Short options that take a value, without the dash (`o` for `-o ro`). */
  readonly shortWithValue: string;
  /** Long options that take a value (`--options`), also accepted as `--options=value`. */
  readonly longWithValue: readonly string[];
}

interface ParsedOptions {
  /** Every option seen, normalised: `-r`, `--read-only`; bundles split (`-rf x` gives `-r`, `-f`). */
  readonly flags: ReadonlySet<string>;
  /** Values of options that take one, by option (`-o` -> ["ro,noload", ...]). */
  readonly values: ReadonlyMap<string, readonly ResolvedWord[]>;
  readonly positional: readonly ResolvedWord[];
}

function parseOptions(args: readonly ResolvedWord[], spec: OptionSpec): ParsedOptions {
  const flags = new Set<string>();
  const values = new Map<string, ResolvedWord[]>();
  const positional: ResolvedWord[] = [];
  const addValue = (option: string, value: ResolvedWord | undefined): void => {
    flags.add(option);
    if (value) values.set(option, [...(values.get(option) ?? []), value]);
  };
  let onlyPositional = false;
  for (let k = 0; k < args.length; k++) {
    const arg = args[k];
    const text = arg.text;
    if (onlyPositional || !text.startsWith("-") || text === "-") {
      positional.push(arg);
    } else if (text === "--") {
      onlyPositional = true;
    } else if (text.startsWith("--")) {
      const eq = text.indexOf("=");
      if (eq > 0) addValue(text.slice(0, eq), { text: text.slice(eq + 1), known: arg.known });
      else if (spec.longWithValue.includes(text)) addValue(text, args[++k]);
      else flags.add(text);
    } else {
      for (let c = 1; c < text.length; c++) {
        const letter = text[c];
        if (spec.shortWithValue.includes(letter)) {
          const rest = text.slice(c + 1);
          addValue(`-${letter}`, rest !== "" ? { text: rest, known: arg.known } : args[++k]);
          break;
        }
        flags.add(`-${letter}`);
      }
    }
  }
  return { flags, values, positional };
}

/** The comma-separated elements of every value of the given options, as written (`ro`, `${extra}`). */
function optionElements(parsed: ParsedOptions, ...options: string[]): string[] {
  return options.flatMap((o) => (parsed.values.get(o) ?? []).flatMap((v) => v.text.split(",")));
}

const has = (parsed: ParsedOptions, ...flags: string[]): boolean => flags.some((f) => parsed.flags.has(f));

const MOUNT: OptionSpec = {
  shortWithValue: "otLUOTN",
  longWithValue: ["--options", "--types", "--label", "--uuid", "--test-opts", "--fstab", "--namespace", "--source", "--target", "--target-prefix", "--options-mode", "--options-source"],
};
const FUSE_MOUNT: OptionSpec = { shortWithValue: "opF", longWithValue: [] };
const QEMU_NBD: OptionSpec = {
  shortWithValue: "pobkexDBlTcdf",
  longWithValue: ["--port", "--offset", "--bind", "--socket", "--shared", "--export-name", "--description", "--bitmap", "--load-snapshot", "--trace", "--connect", "--disconnect", "--format", "--cache", "--aio", "--discard", "--detect-zeroes", "--object", "--tls-creds", "--tls-authz", "--tls-hostname", "--pid-file", "--handshake-limit"],
};
const LOSETUP: OptionSpec = { shortWithValue: "ojbO", longWithValue: ["--offset", "--associated", "--sector-size", "--output", "--sizelimit"] };
const SIMPLE: OptionSpec = { shortWithValue: "", longWithValue: [] };

/** `mount` and its helpers: read-only needs `-r`, `--read-only` or an `ro` element in `-o`. */
function mountLike(args: readonly ResolvedWord[], spec: OptionSpec, readOnlyFlags: string[], writeElements: string[]): string | undefined {
  const parsed = parseOptions(args, spec);
  if (has(parsed, "-h", "--help", "-V", "--version")) return undefined;
  // `mount --make-rprivate /x` changes propagation only.
  if (parsed.flags.size > 0 && [...parsed.flags].every((f) => f.startsWith("--make-"))) return undefined;
  const mountsSomething = parsed.positional.length > 0 || has(parsed, "-a", "--all", "--source", "--target");
  if (!mountsSomething) return undefined; // `mount`, `mount -l`, `mount -t ext4`: listings.
  const elements = optionElements(parsed, "-o", "--options");
  const enabling = elements.filter((e) => writeElements.includes(e));
  if (has(parsed, "-w", "--rw", "--read-write")) return "asks for read-write (-w/--rw)";
  if (enabling.length > 0) return `carries the write-enabling option '${enabling[0]}'`;
  if (!has(parsed, ...readOnlyFlags) && !elements.includes("ro")) {
    return `has no literal read-only flag (${[...readOnlyFlags, "-o ro"].join(", ")})`;
  }
  return undefined;
}

type Rule = (args: readonly ResolvedWord[]) => string | undefined;

const MOUNT_WRITE_ELEMENTS = ["rw", "remove_hiberfile", "recover"];

const mount: Rule = (args) => mountLike(args, MOUNT, ["-r", "--read-only"], MOUNT_WRITE_ELEMENTS);
const fuseMount: Rule = (args) => mountLike(args, FUSE_MOUNT, [], MOUNT_WRITE_ELEMENTS);

const qemuNbd: Rule = (args) => {
  const parsed = parseOptions(args, QEMU_NBD);
  if (has(parsed, "-d", "--disconnect", "-L", "--list", "-h", "--help", "-V", "--version")) return undefined;
  return has(parsed, "-r", "--read-only") ? undefined : "exports the image writable (no -r/--read-only)";
};

const losetup: Rule = (args) => {
  const parsed = parseOptions(args, LOSETUP);
  const queries = ["-d", "--detach", "-D", "--detach-all", "-a", "--all", "-j", "--associated", "-l", "--list", "-c", "--set-capacity", "-h", "--help", "-V", "--version"];
  if (has(parsed, ...queries) || parsed.positional.length === 0) return undefined;
  return has(parsed, "-r", "--read-only") ? undefined : "attaches a loop device writable (no -r/--read-only)";
};

const guestmount: Rule = (args) => {
  const parsed = parseOptions(args, { shortWithValue: "admoc", longWithValue: ["--add", "--mount", "--format", "--connect", "--options", "--fuse-options"] });
  if (has(parsed, "-h", "--help", "-V", "--version")) return undefined;
  if (has(parsed, "-w", "--rw")) return "asks for read-write (-w/--rw)";
  return has(parsed, "-r", "--ro") ? undefined : "has no --ro";
};

const kpartx: Rule = (args) => {
  const parsed = parseOptions(args, SIMPLE);
  if (!has(parsed, "-a", "-u")) return undefined;
  return has(parsed, "-r") ? undefined : "adds partition mappings writable (no -r)";
};

/** `-n` style dry runs are the only safe way to run a repair tool on evidence. */
const unlessDryRun = (dryRunFlags: string[], what: string): Rule => (args) => {
  const parsed = parseOptions(args, SIMPLE);
  if (has(parsed, "-h", "--help", "-V", "--version")) return undefined;
  return has(parsed, ...dryRunFlags) ? undefined : `${what} (no ${dryRunFlags.join("/")})`;
};

const always = (what: string): Rule => () => what;

const QEMU_IMG_WRITES = new Set(["commit", "rebase", "resize", "amend", "bitmap"]);
const qemuImg: Rule = (args) => {
  const parsed = parseOptions(args, { shortWithValue: "T", longWithValue: ["--trace", "--object"] });
  const sub = parsed.positional[0]?.text;
  if (sub === undefined) return undefined;
  if (QEMU_IMG_WRITES.has(sub)) return `modifies the image (qemu-img ${sub})`;
  const rest = parseOptions(args.slice(args.indexOf(parsed.positional[0]) + 1), { shortWithValue: "fFrlcdaoOBbTms", longWithValue: ["--format", "--output", "--object", "--repair"] });
  if (sub === "snapshot" && has(rest, "-c", "-d", "-a")) return "changes the image's snapshots (qemu-img snapshot -c/-d/-a)";
  if (sub === "check" && has(rest, "-r", "--repair")) return "repairs the image (qemu-img check -r)";
  return undefined;
};

const btrfs: Rule = (args) => {
  const words = args.map((a) => a.text);
  if (words[0] === "rescue") return "writes to the filesystem (btrfs rescue)";
  if (words[0] === "check" && words.some((w) => w === "--repair" || w.startsWith("--init-"))) return "writes to the filesystem (btrfs check --repair)";
  return undefined;
};

const blockdev: Rule = (args) => (args.some((a) => a.text === "--setrw") ? "makes the device writable (blockdev --setrw)" : undefined);

const RULES: Readonly<Record<string, Rule>> = {
  mount,
  "ntfs-3g": fuseMount,
  lowntfs: fuseMount,
  "lowntfs-3g": fuseMount,
  sshfs: fuseMount,
  guestmount,
  "qemu-nbd": qemuNbd,
  losetup,
  kpartx,
  "qemu-img": qemuImg,
  ntfsfix: unlessDryRun(["-n", "--no-action"], "repairs the NTFS volume"),
  fsck: unlessDryRun(["-n", "-N"], "may repair the filesystem"),
  e2fsck: unlessDryRun(["-n"], "may repair the filesystem"),
  xfs_repair: unlessDryRun(["-n"], "repairs the filesystem"),
  wipefs: unlessDryRun(["-n", "--no-act"], "erases filesystem signatures"),
  btrfs,
  blockdev,
  blkdiscard: always("discards the device's blocks"),
  mkfs: always("creates a filesystem"),
  mke2fs: always("creates a filesystem"),
  mkntfs: always("creates a filesystem"),
  mkswap: always("writes a swap signature"),
};

/** Why an invocation could write to what it opens, or undefined when it cannot. */
export function writeCapability(invocation: Invocation): string | undefined {
  const { program, args } = invocation;
  const rule =
    RULES[program] ??
    (program.startsWith("mount.") ? (program.includes("ntfs") || program.includes("fuse") ? fuseMount : mount) : undefined) ??
    (/^(mkfs|fsck)\./.test(program) ? RULES[program.split(".")[0]] : undefined);
  return rule?.(args);
}

/** Programs that mount a filesystem, whose hooks must carry the journal-safe options. */
export function isMountProgram(program: string): boolean {
  return ["mount", "ntfs-3g", "lowntfs-3g"].includes(program) || program.startsWith("mount.");
}

/**
 * The format `qemu-nbd` is told to open (`-f`/`--format`), or why it is missing: without it qemu-nbd
 * probes the image, and a raw image that looks like qcow2 makes it follow a backing file the image names.
 */
export function qemuNbdFormat(invocation: Invocation): { readonly format?: ResolvedWord; readonly connects: boolean } {
  const parsed = parseOptions(invocation.args, QEMU_NBD);
  const connects = !has(parsed, "-d", "--disconnect", "-L", "--list", "-h", "--help", "-V", "--version");
  const format = [...(parsed.values.get("-f") ?? []), ...(parsed.values.get("--format") ?? [])][0];
  return { format, connects };
}
