import { canonicalPath, evidenceNamedBy, HookRedirect, Invocation, OTHER_LANGUAGES, ResolvedWord } from "./shell-text";

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
  longWithValue: [
    "--options",
    "--types",
    "--label",
    "--uuid",
    "--test-opts",
    "--fstab",
    "--namespace",
    "--source",
    "--target",
    "--target-prefix",
    "--options-mode",
    "--options-source",
  ],
};
const FUSE_MOUNT: OptionSpec = { shortWithValue: "opF", longWithValue: [] };
const QEMU_NBD: OptionSpec = {
  shortWithValue: "pobkexDBlTcdf",
  longWithValue: [
    "--port",
    "--offset",
    "--bind",
    "--socket",
    "--shared",
    "--export-name",
    "--description",
    "--bitmap",
    "--load-snapshot",
    "--trace",
    "--connect",
    "--disconnect",
    "--format",
    "--cache",
    "--aio",
    "--discard",
    "--detect-zeroes",
    "--object",
    "--tls-creds",
    "--tls-authz",
    "--tls-hostname",
    "--pid-file",
    "--handshake-limit",
  ],
};
const LOSETUP: OptionSpec = {
  shortWithValue: "ojbO",
  longWithValue: ["--offset", "--associated", "--sector-size", "--output", "--sizelimit"],
};
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

/** libewf's ewfmount: FUSE options come with -X; the mount must say `ro` there itself. */
const EWFMOUNT: OptionSpec = { shortWithValue: "fX", longWithValue: [] };
const ewfmount: Rule = (args) => {
  const parsed = parseOptions(args, EWFMOUNT);
  if (has(parsed, "-h", "-V") || parsed.positional.length === 0) return undefined;
  const elements = optionElements(parsed, "-X");
  const enabling = elements.filter((e) => MOUNT_WRITE_ELEMENTS.includes(e));
  if (enabling.length > 0) return `carries the write-enabling option '${enabling[0]}'`;
  return elements.includes("ro") ? undefined : "has no literal read-only flag (-X ro)";
};

/** ewfverify only reads, but `-l` writes a log file wherever it points; the lab reads its report from stdout. */
const EWFVERIFY: OptionSpec = { shortWithValue: "Adflp", longWithValue: [] };
const ewfverify: Rule = (args) =>
  parseOptions(args, EWFVERIFY).flags.has("-l") ? "writes a log file where -l points (read its report from stdout instead)" : undefined;

const losetup: Rule = (args) => {
  const parsed = parseOptions(args, LOSETUP);
  const queries = [
    "-d",
    "--detach",
    "-D",
    "--detach-all",
    "-a",
    "--all",
    "-j",
    "--associated",
    "-l",
    "--list",
    "-c",
    "--set-capacity",
    "-h",
    "--help",
    "-V",
    "--version",
  ];
  if (has(parsed, ...queries) || parsed.positional.length === 0) return undefined;
  return has(parsed, "-r", "--read-only") ? undefined : "attaches a loop device writable (no -r/--read-only)";
};

const guestmount: Rule = (args) => {
  const parsed = parseOptions(args, {
    shortWithValue: "admoc",
    longWithValue: ["--add", "--mount", "--format", "--connect", "--options", "--fuse-options"],
  });
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
const unlessDryRun =
  (dryRunFlags: string[], what: string): Rule =>
  (args) => {
    const parsed = parseOptions(args, SIMPLE);
    if (has(parsed, "-h", "--help", "-V", "--version")) return undefined;
    return has(parsed, ...dryRunFlags) ? undefined : `${what} (no ${dryRunFlags.join("/")})`;
  };

const always =
  (what: string): Rule =>
  () =>
    what;

const QEMU_IMG_WRITES = new Set(["commit", "rebase", "resize", "amend", "bitmap"]);
const qemuImg: Rule = (args) => {
  const parsed = parseOptions(args, { shortWithValue: "T", longWithValue: ["--trace", "--object"] });
  const sub = parsed.positional[0]?.text;
  if (sub === undefined) return undefined;
  if (QEMU_IMG_WRITES.has(sub)) return `modifies the image (qemu-img ${sub})`;
  const rest = parseOptions(args.slice(args.indexOf(parsed.positional[0]) + 1), {
    shortWithValue: "fFrlcdaoOBbTms",
    longWithValue: ["--format", "--output", "--object", "--repair"],
  });
  if (sub === "snapshot" && has(rest, "-c", "-d", "-a")) return "changes the image's snapshots (qemu-img snapshot -c/-d/-a)";
  if (sub === "check" && has(rest, "-r", "--repair")) return "repairs the image (qemu-img check -r)";
  return undefined;
};

const btrfs: Rule = (args) => {
  const words = args.map((a) => a.text);
  if (words[0] === "rescue") return "writes to the filesystem (btrfs rescue)";
  if (words[0] === "check" && words.some((w) => w === "--repair" || w.startsWith("--init-")))
    return "writes to the filesystem (btrfs check --repair)";
  return undefined;
};

const BLOCKDEV_SAFE = /^--(get[a-z0-9]*|setro|report|flushbufs|rereadpt|help|version)$/;
const blockdev: Rule = (args) => {
  if (args.some((a) => a.text === "--setrw")) return "makes the device writable (blockdev --setrw)";
  const other = args.find((a) => a.text.startsWith("-") && !BLOCKDEV_SAFE.test(a.text) && a.text !== "-q" && a.text !== "-v");
  return other ? `changes the device's settings (blockdev ${other.text})` : undefined;
};

const hdparm: Rule = (args) => {
  const words = args.map((a) => a.text);
  const r = words.findIndex((w) => /^-r\d?$/.test(w));
  if (r >= 0 && (words[r] === "-r0" || (words[r] === "-r" && words[r + 1] === "0"))) return "makes the device writable (hdparm -r0)";
  const other = words.find((w, k) => w.startsWith("-") && !/^-(r1?|[IigtTCv]+|-help)$/.test(w) && !(words[k - 1] === "-r"));
  return other ? `changes the device's settings (hdparm ${other})` : undefined;
};

/** sfdisk reads the table only with one of its listing options; otherwise it writes what stdin says. */
const sfdisk: Rule = (args) => {
  const reads = [
    "--json",
    "-J",
    "--dump",
    "-d",
    "--list",
    "-l",
    "--list-free",
    "-F",
    "--show-size",
    "-s",
    "--verify",
    "-V",
    "--version",
    "-v",
    "--help",
    "-h",
    "--backup-pt-sectors",
  ];
  return args.some((a) => reads.includes(a.text) || /^-[JdlFsV]+$/.test(a.text))
    ? undefined
    : "writes the partition table (sfdisk without --json, --dump or --list)";
};

const PARTED_READ = new Set([
  "print",
  "unit",
  "help",
  "version",
  "s",
  "B",
  "kB",
  "MB",
  "GB",
  "TB",
  "KiB",
  "MiB",
  "GiB",
  "TiB",
  "%",
  "cyl",
  "chs",
  "compact",
]);
const parted: Rule = (args) => {
  const positional = args.filter((a) => !a.text.startsWith("-"));
  const commands = positional.slice(1);
  if (commands.length === 0) return "runs the interactive partition editor (parted without a print command)";
  const change = commands.find((c) => !PARTED_READ.has(c.text));
  return change ? `changes the partition table (parted ${change.text})` : undefined;
};

const fdisk: Rule = (args) =>
  args.some((a) => a.text === "-l" || a.text === "--list") ? undefined : "edits the partition table (fdisk without -l)";
const sgdisk: Rule = (args) =>
  args.every(
    (a) =>
      !a.text.startsWith("-") ||
      /^(-p|--print|-v|--verify|-i|--info(=.*)?|-O|--print-mbr|-D|--display-alignment|-E|--end-of-largest|-F|--first-in-largest|-L|--list-types|-V|--version|-\?|--help)$/.test(
        a.text,
      ),
  )
    ? undefined
    : "changes the partition table (sgdisk)";

const tune2fs: Rule = (args) =>
  args.length > 0 && args.every((a) => !a.text.startsWith("-") || a.text === "-l") && args.some((a) => a.text === "-l")
    ? undefined
    : "changes the filesystem's superblock (tune2fs without -l)";
const debugfs: Rule = (args) =>
  args.some((a) => /^-[a-zA-Z]*w/.test(a.text)) ? "opens the filesystem for writing (debugfs -w)" : undefined;

const qemuIo: Rule = (args) => {
  const parsed = parseOptions(args, {
    shortWithValue: "cfotTd",
    longWithValue: ["--cmd", "--format", "--object", "--trace", "--cache", "--discard", "--aio", "--image-opts"],
  });
  if (has(parsed, "-h", "--help", "-V", "--version")) return undefined;
  return has(parsed, "-r", "--read-only") ? undefined : "opens the image writable (qemu-io without -r/--read-only)";
};

const nbdClient: Rule = (args) => {
  const words = args.map((a) => a.text);
  if (
    words.some((w) =>
      ["-d", "-disconnect", "--disconnect", "-c", "-check", "--check", "-l", "-list", "--list", "-h", "--help", "-V", "--version"].includes(
        w,
      ),
    )
  )
    return undefined;
  if (words.filter((w) => !w.startsWith("-")).length === 0) return undefined;
  return words.some((w) => ["-readonly", "--readonly", "-R"].includes(w))
    ? undefined
    : "attaches the export writable (nbd-client without -readonly)";
};

/** `vgchange -ay` makes the logical volumes inside evidence writable block devices. */
const lvmActivate =
  (tool: string): Rule =>
  (args) => {
    const words = args.map((a) => a.text);
    const activation = words.findIndex((w) => /^(-a|--activate)(=?.*)$/.test(w) || /^-[A-Za-z]*a[ye]*$/.test(w));
    if (activation < 0)
      return /^-/.test(words[0] ?? "-") &&
        words.some((w) =>
          /^(-[cxlpu]|--(uuid|resizeable|logicalvolume|maxphysicalvolumes|physicalextentsize|addtag|deltag|alloc|metadatacopies|permission))/.test(
            w,
          ),
        )
        ? `changes LVM metadata (${tool})`
        : undefined;
    const inline = /^(-a|--activate)=?(.+)$/.exec(words[activation]) ?? /^-[A-Za-z]*a([ye]+)$/.exec(words[activation]);
    const value =
      inline && inline[inline.length - 1] !== "" && !/^(-a|--activate)$/.test(words[activation])
        ? inline[inline.length - 1]
        : words[activation + 1];
    if (value === undefined || /^n/.test(value)) return undefined;
    return words.includes("--readonly") || (words.includes("--permission") && words[words.indexOf("--permission") + 1] === "r")
      ? undefined
      : `activates logical volumes writable (${tool} -ay without --readonly)`;
  };

/** lvm2 commands that only report; with `--readonly` no lvm2 command takes a lock or writes metadata. */
const LVM_REPORTS = new Set([
  "pvs",
  "vgs",
  "lvs",
  "fullreport",
  "pvdisplay",
  "vgdisplay",
  "lvdisplay",
  "version",
  "help",
  "config",
  "lvmconfig",
  "dumpconfig",
  "devtypes",
  "formats",
  "segtypes",
  "systemid",
  "tags",
]);

/**
 * `lvm <command> ...` and lvm2's own command names: activation is judged as for vgchange; any other
 * command that is not a report changes metadata (vgck --updatemetadata, pvchange, vgimportclone,
 * vgcfgrestore, pvscan --cache -aay, ...), unless the whole command runs in lvm's `--readonly` mode.
 */
const lvm =
  (tool: string): Rule =>
  (args) => {
    const words = args.map((a) => a.text);
    if (words.includes("--readonly")) return undefined;
    const command = tool === "lvm" ? words.find((w) => !w.startsWith("-")) : tool;
    if (command === undefined || LVM_REPORTS.has(command)) return undefined;
    if (command === "vgchange" || command === "lvchange") return lvmActivate(command)(args.slice(tool === "lvm" ? 1 : 0));
    return `may change LVM metadata or activate volumes (${tool === "lvm" ? `lvm ${command}` : command} without --readonly)`;
  };

const CRYPTSETUP_WRITES = new Set([
  "luksFormat",
  "luksAddKey",
  "luksRemoveKey",
  "luksChangeKey",
  "luksKillSlot",
  "luksConvertKey",
  "luksHeaderRestore",
  "luksSuspend",
  "luksResume",
  "erase",
  "luksErase",
  "repair",
  "convert",
  "reencrypt",
  "config",
  "token",
  "resize",
  "refresh",
]);
const CRYPTSETUP_OPENS = new Set(["open", "luksOpen", "plainOpen", "loopaesOpen", "tcryptOpen", "bitlkOpen", "fvault2Open", "create"]);
const cryptsetup: Rule = (args) => {
  const words = args.map((a) => a.text);
  const action = words.find((w) => CRYPTSETUP_WRITES.has(w) || CRYPTSETUP_OPENS.has(w));
  if (action === undefined) return undefined;
  if (CRYPTSETUP_WRITES.has(action)) return `writes the encryption header or mapping (cryptsetup ${action})`;
  return words.includes("--readonly") || words.includes("-r")
    ? undefined
    : `opens the mapping writable (cryptsetup ${action} without --readonly)`;
};

const DMSETUP_READS = new Set([
  "ls",
  "info",
  "status",
  "table",
  "deps",
  "targets",
  "version",
  "help",
  "remove",
  "udevcomplete",
  "udevcookies",
  "mangle",
  "splitname",
  "wait",
]);
/**
 * The one table a `dmsetup create` may load without --readonly: a thin pool with its `read_only` feature
 * and nothing else (dm-thin refuses read-only tables; in read_only mode the pool writes neither its
 * metadata nor its data). Numbers and device names may come from variables, one word each.
 */
const READ_ONLY_THIN_POOL = /^0 \S+ thin-pool \S+ \S+ \S+ 0 1 read_only$/;
const dmsetup: Rule = (args) => {
  const sub = args.find((a) => !a.text.startsWith("-"))?.text;
  if (sub === undefined || DMSETUP_READS.has(sub)) return undefined;
  if (sub === "create" && args.some((a) => a.text === "--readonly" || a.text === "-r")) return undefined;
  const table = args.findIndex((a) => a.text === "--table");
  if (sub === "create" && table >= 0 && READ_ONLY_THIN_POOL.test(args[table + 1]?.text ?? "")) return undefined;
  return `creates or changes device-mapper mappings (dmsetup ${sub})`;
};

/**
 * mdadm: only its reports pass. Assembling (even --readonly), creating, growing, adding or --incremental
 * may resync an array or rewrite member superblocks (event counts, clean flags), and members of one
 * array in two images would meet in one md device; VolumeSystems reads RAID1 members without md.
 */
const MDADM_READS = new Set(["--examine", "-E", "--query", "-Q", "--detail", "-D", "--help", "-h", "--version", "-V"]);
const mdadm: Rule = (args) =>
  args.length > 0 &&
  args.every((a) => !a.text.startsWith("-") || MDADM_READS.has(a.text) || a.text === "--scan" || a.text === "-s") &&
  args.some((a) => MDADM_READS.has(a.text))
    ? undefined
    : "may assemble, create or change an md array, or rewrite its members' superblocks (mdadm without --examine/--query/--detail)";

/**
 * md's sysfs, where lib/hooks/md-array.sh starts an array by hand: a write to one of these attributes
 * decides whether md may write the members, so only the values that keep it from doing so pass, as
 * literal `echo` or `printf` text: metadata `none` (no superblock read or written), in sync
 * (`resync_start none`), started and stopped as `readonly` and `clear` (never `active`, `read-auto` or
 * `clean`), and no sync action (`check` and `repair` read and rewrite parity) nor recovery or reshape.
 * Any other value, one built at run time, or another program's output is refused.
 */
const MD_SYSFS_VALUES: Readonly<Record<string, readonly string[]>> = {
  metadata_version: ["none"],
  resync_start: ["none"],
  array_state: ["readonly", "clear"],
  sync_action: ["idle", "frozen"],
  recovery_start: [],
  reshape_position: [],
  reshape_direction: [],
  new_level: [],
  sync_min: [],
  sync_max: [],
  sync_force_parallel: [],
  start_ro: [],
  consistency_policy: [],
};
function mdSysfsWrite(invocation: Invocation): string | undefined {
  for (const redirect of invocation.redirects) {
    if (!WRITING_REDIRECTS.has(redirect.op)) continue;
    const attribute = redirect.target.text.split("/").pop() ?? "";
    const allowed = MD_SYSFS_VALUES[attribute];
    if (allowed === undefined) continue;
    const words = invocation.args.filter((a) => !/^-[neE]+$/.test(a.text));
    // The text written, when the command is echo or printf of words the reader knows; else unseen.
    const value =
      (invocation.program === "echo" || invocation.program === "printf") && words.every((a) => a.known)
        ? words.map((a) => a.text).join(" ")
        : undefined;
    if (value !== undefined && allowed.includes(value.replace(/\\n$/, ""))) continue;
    if (allowed.length === 0) return `writes md's ${attribute}, which starts or steers what md writes to the members`;
    const shown = value !== undefined ? `'${value}'` : "a value it cannot see";
    return `writes ${shown} to md's ${attribute}: only ${allowed.map((v) => `'${v}'`).join(" or ")} keeps md from writing the members`;
  }
  return undefined;
}

/** dd writes only where `of=` points (standard output without it). */
const dd: Rule = (args) => {
  const of = args.find((a) => a.text.startsWith("of="));
  return of && evidenceNamedBy({ text: of.text.slice(3), known: of.known }, []) ? `writes to ${of.text.slice(3)} (dd of=)` : undefined;
};

const RULES: Readonly<Record<string, Rule>> = {
  mount,
  "ntfs-3g": fuseMount,
  lowntfs: fuseMount,
  "lowntfs-3g": fuseMount,
  sshfs: fuseMount,
  guestmount,
  "qemu-nbd": qemuNbd,
  ewfmount,
  ewfverify,
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
  hdparm,
  sfdisk,
  parted,
  fdisk,
  sgdisk,
  tune2fs,
  debugfs,
  "qemu-io": qemuIo,
  "nbd-client": nbdClient,
  vgchange: lvmActivate("vgchange"),
  lvchange: lvmActivate("lvchange"),
  lvm: lvm("lvm"),
  ...Object.fromEntries(
    [
      "vgck",
      "pvck",
      "pvchange",
      "pvscan",
      "vgscan",
      "vgimportclone",
      "vgcfgrestore",
      "vgimport",
      "vgexport",
      "vgrename",
      "lvrename",
      "vgmknodes",
      "vgconvert",
      "lvconvert",
      "pvcreate",
      "vgcreate",
      "lvcreate",
      "vgextend",
      "vgreduce",
      "pvresize",
      "lvresize",
      "lvextend",
      "lvreduce",
      "pvmove",
      "vgmerge",
      "vgsplit",
      "pvremove",
      "vgremove",
      "lvremove",
    ].map((tool) => [tool, lvm(tool)]),
  ),
  cryptsetup,
  dmsetup,
  mdadm,
  dd,
  gdisk: always("edits the partition table"),
  cfdisk: always("edits the partition table"),
  resize2fs: always("resizes the filesystem"),
  e2label: always("changes the filesystem label"),
  ntfslabel: always("changes the filesystem label"),
  ntfsresize: always("resizes the filesystem"),
  xfs_admin: always("changes the filesystem's superblock"),
  btrfstune: always("changes the filesystem's superblock"),
  zerofree: always("zeroes the filesystem's free blocks"),
  shred: always("overwrites what it is given"),
  blkdiscard: always("discards the device's blocks"),
  mkfs: always("creates a filesystem"),
  mke2fs: always("creates a filesystem"),
  mkntfs: always("creates a filesystem"),
  mkswap: always("writes a swap signature"),
  mknod: always("makes a device node, which reaches a disk by its numbers whatever it is named"),
};

function ruleFor(program: string): Rule | undefined {
  return (
    RULES[program] ??
    (program.startsWith("mount.") ? (program.includes("ntfs") || program.includes("fuse") ? fuseMount : mount) : undefined) ??
    (/^(mkfs|fsck)\./.test(program) ? RULES[program.split(".")[0]] : undefined)
  );
}

/** Why an invocation could write to what it opens, or undefined when it cannot. */
export function writeCapability(invocation: Invocation): string | undefined {
  const { args } = invocation;
  // qemu's own tools and the guest's emulator are what open json: specs.
  const spec = invocation.program.startsWith("qemu") ? args.map((a) => jsonSpecProblem(a)).find((p) => p !== undefined) : undefined;
  return ruleFor(invocation.program)?.(args) ?? spec ?? mdSysfsWrite(invocation) ?? changesIntoDevices(invocation);
}

/** `cd /dev` (or below it): a relative name after it (`dd of=nbd0`) reaches a device the reader cannot see. */
function changesIntoDevices(invocation: Invocation): string | undefined {
  if (invocation.program !== "cd" && invocation.program !== "pushd") return undefined;
  const into = invocation.args.find((a) => !a.text.startsWith("-"));
  return into && /^\/dev(\/|$)/.test(canonicalPath(into.text))
    ? `changes into ${into.text}, where a relative name would reach a device the policy cannot see`
    : undefined;
}

/**
 * A qemu `json:` pseudo-filename that turns writing on: `"read-only": false` (or `"off"`) at any level
 * overrides the `--read-only` the command carries for that node. One that does not parse cannot be
 * checked, so it is refused.
 */
function jsonSpecProblem(arg: ResolvedWord): string | undefined {
  const at = arg.text.indexOf("json:");
  if (at < 0 || (at > 0 && !/[=,:]$/.test(arg.text.slice(0, at)))) return undefined;
  if (!arg.known) return undefined;
  let spec: unknown;
  try {
    spec = JSON.parse(arg.text.slice(at + 5));
  } catch {
    return "names a json: image spec that does not parse, so its read-only settings cannot be checked";
  }
  const writable = (value: unknown): boolean => {
    if (Array.isArray(value)) return value.some(writable);
    if (value === null || typeof value !== "object") return false;
    return Object.entries(value).some(([key, v]) => (key === "read-only" && (v === false || v === "off" || v === "false")) || writable(v));
  };
  return writable(spec) ? 'opens the image writable ("read-only": false in its json: spec)' : undefined;
}

/**
 * Programs that may be handed evidence (a word that names it) because they only read it, only make or
 * remove the empty folders it is mounted on, or are tools whose rule above holds them to read-only.
 */
const READERS = new Set([
  // builtins and words that only carry text
  "echo",
  "printf",
  "test",
  "[",
  "[[",
  ":",
  "true",
  "false",
  "for",
  "case",
  "select",
  "in",
  "local",
  "declare",
  "typeset",
  "readonly",
  "export",
  "return",
  "exit",
  "shift",
  "unset",
  "wait",
  "sleep",
  "kill",
  // readers
  "cat",
  "head",
  "tail",
  "sha256sum",
  "sha1sum",
  "sha512sum",
  "md5sum",
  "b2sum",
  "b3sum",
  "stat",
  "file",
  "ls",
  "findmnt",
  "lsblk",
  "blkid",
  "mountpoint",
  "readlink",
  "realpath",
  "dirname",
  "basename",
  "jq",
  "grep",
  "strings",
  "xxd",
  "hexdump",
  "od",
  "cmp",
  "wc",
  "du",
  "df",
  "udevadm",
  "fls",
  "icat",
  "mmls",
  "fsstat",
  "istat",
  "ils",
  "ffind",
  "ifind",
  "tsk_recover",
  "ewfinfo",
  "ewfverify",
  "ntfsinfo",
  "ntfsls",
  "ntfscat",
  "dumpe2fs",
  "xfs_info",
  "partx",
  "partprobe",
  // the mount point's folder, never the evidence in it; detaching
  "mkdir",
  "rmdir",
  "umount",
  "fusermount",
  "fusermount3",
]);

const structureOnly: Readonly<Record<string, Rule>> = {
  install: (args) =>
    args.some((a) => a.text === "-d" || a.text === "--directory" || /^-[A-Za-z]*d/.test(a.text))
      ? undefined
      : "copies files (install without -d)",
  find: (args) => {
    const writer = args.find((a) => /^-(delete|fprint0?|fprintf|fls)$/.test(a.text));
    return writer ? `writes or deletes files (find ${writer.text})` : undefined;
  },
  fusermount: (args) => (args.some((a) => /^-[A-Za-z]*u/.test(a.text)) ? undefined : "mounts a FUSE filesystem"),
  fusermount3: (args) => (args.some((a) => /^-[A-Za-z]*u/.test(a.text)) ? undefined : "mounts a FUSE filesystem"),
  udevadm: (args) =>
    ["settle", "info", "--version", "-V"].includes(args[0]?.text ?? "")
      ? undefined
      : `changes device state (udevadm ${args[0]?.text ?? ""})`,
  partx: (args) =>
    args.some((a) => /^(-[A-Za-z]*[adu]|--(add|delete|update))$/.test(a.text))
      ? "changes the kernel's partition table (partx -a/-d/-u)"
      : undefined,
};

/**
 * The allow-list: why an invocation that names evidence is not allowed to, or undefined. Allowed are
 * READERS, the hook's own functions (their bodies are read where they are written), and the tools
 * RULES holds to read-only (their rule is checked by writeCapability).
 */
export function evidenceAccess(invocation: Invocation): string | undefined {
  const named = invocation.args.map((a) => evidenceNamedBy(a, invocation.evidencePaths)).find((e) => e !== undefined);
  const { program } = invocation;
  // Their arguments are scripts, read as such (or reported as opaque) by the reader.
  if (named === undefined || invocation.definedHere || SCRIPT_RUNNERS.has(program)) return undefined;
  if (removesCopiesOnly(invocation)) return undefined;
  const rule = structureOnly[program];
  if (rule) {
    const why = rule(invocation.args);
    return why ? `touches evidence (${named}) and ${why}` : undefined;
  }
  if (READERS.has(program) || ruleFor(program) !== undefined) return undefined;
  return `touches evidence (${named}), and ${program} is not a command allowed to: only readers, mount-point folders and the read-only tools may`;
}

/**
 * `rm` or `chattr -i` of nothing but the guest's copies of copied files (the transfer's delete hook):
 * removing the lab's own copy writes no evidence; the original stays on the host, hashed. Anything
 * else done to a copy (a write, a truncate, another attribute) is judged like any evidence.
 */
function removesCopiesOnly(invocation: Invocation): boolean {
  const { program, args, evidencePaths, copyPaths } = invocation;
  const operands = args.filter((a) => !a.text.startsWith("-"));
  const options = args.filter((a) => a.text.startsWith("-"));
  const allowed =
    program === "rm"
      ? options.every((o) => /^(-[frv]+|--force|--verbose|--)$/.test(o.text))
      : program === "chattr" &&
        options.length > 0 &&
        options.every((o) => /^(-i|--)$/.test(o.text)) &&
        options.some((o) => o.text === "-i");
  return allowed && operands.every((a) => evidenceNamedBy(a, evidencePaths) === undefined || copyPaths.includes(a.text));
}

const SCRIPT_RUNNERS = new Set([
  "bash",
  "sh",
  "dash",
  "zsh",
  "ksh",
  "ash",
  "mksh",
  "rbash",
  "busybox",
  "eval",
  "su",
  "runuser",
  "trap",
  "ssh",
  "xargs",
  "source",
  ".",
  ...OTHER_LANGUAGES,
]);

/** Redirections that open their target for writing. */
const WRITING_REDIRECTS = new Set([">", ">>", ">|", "&>", "&>>", "<>", ">&"]);

/** Why a redirection writes to evidence, or undefined. */
export function redirectWrite(redirect: HookRedirect): string | undefined {
  if (!WRITING_REDIRECTS.has(redirect.op)) return undefined;
  const named = evidenceNamedBy(redirect.target, redirect.evidencePaths);
  return named === undefined ? undefined : `writes to evidence through a redirection (${redirect.op} ${redirect.target.text})`;
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
