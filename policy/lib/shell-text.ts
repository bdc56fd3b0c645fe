import { posix } from "path";
import { parseRenderedHook, type PreludeValue } from "../../lib/rendered-hook";
import { isInGuestWrapperBody } from "./in-guest-wrapper";
import { KEYWORDS, parseScript, type SimpleCommand, type Word } from "./shell-lexer";

export { parseScript, type Redirect, type SimpleCommand, type Word, type WordPart } from "./shell-lexer";

/**
 * Reads the text of a forensic-lab hook the way bash would, closely enough for a policy: the generated
 * prelude of `readonly NAME='value'` lines (the in-guest wrapper's `INNER_HOOK` is itself a rendered hook,
 * quoted inside it), then the static body split into simple commands. Comments are dropped, quotes
 * removed, `$(...)`, backticks, process substitutions, here-documents and `bash -c`/`eval`/`ssh` command
 * strings are read as scripts too, and `$NAME`/`${NAME}` of a prelude constant is replaced by its value
 * (they are `readonly`, so nothing in the hook can change them). A name the script itself fills with
 * evidence (an assignment, `local`, a nameref, a loop over a prelude array, `read <<<`, `printf -v`,
 * `${!name}`) is read as that evidence.
 *
 * What it cannot see: commands built at run time from variables (`"$tool" ...`), `find -exec`
 * argument lists, scripts written to a file and run later, values read into a name from a file or a
 * pipe (`read`, `mapfile`), relative names after `env -C` and its kin. Hooks are static
 * files reviewed in git; the policy pack catches the slip, not the saboteur.
 */

/** A word after prelude constants are substituted; `known` is false while any expansion is left. */
export interface ResolvedWord {
  readonly text: string;
  readonly known: boolean;
}

/** Substitutes prelude constants into a word; anything else stays as written and makes it unknown. */
export function resolveWord(word: Word, values: ReadonlyMap<string, PreludeValue>): ResolvedWord {
  let text = "";
  let known = true;
  for (const part of word.parts) {
    if (part.kind === "text") {
      text += part.text;
      continue;
    }
    const value = part.kind === "param" && part.name !== "" ? values.get(part.name) : undefined;
    // `${LAYER_PATHS[0]}`: a literal index into a prelude array.
    const item = part.kind === "param" ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\[([0-9]+)\]\}$/.exec(part.raw) : null;
    const array = item ? values.get(item[1]) : undefined;
    // `${!name}` where name holds the name of a variable: that variable's value.
    const indirect = part.kind === "param" ? /^\$\{!([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(part.raw) : null;
    const referred = indirect ? values.get(String(values.get(indirect[1]))) : undefined;
    // `${name:-word}`, `${name=word}`, `${name:+word}`...: bash may use the word instead of the value (set -u
    // does not stop it), so it is judged as if written there; which one bash takes stays unknown.
    const alternative = part.kind === "param" ? /^\$\{[A-Za-z_][A-Za-z0-9_]*:?[-=+]([^]*)\}$/.exec(part.raw) : null;
    if (typeof value === "string") text += value;
    else if (typeof referred === "string") {
      text += referred;
      known = false;
    } else if (item && Array.isArray(array) && array[Number(item[2])] !== undefined) text += array[Number(item[2])];
    else if (alternative) {
      text += alternative[1].replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (ref, name: string) => {
        const named = values.get(name);
        return typeof named === "string" ? named : ref;
      });
      known = false;
    } else {
      text += part.raw;
      known = false;
    }
  }
  return { text, known };
}

/** Shell wrappers that run their arguments as a command: `sudo mount ...` is a mount. */
const PREFIX_COMMANDS: Readonly<Record<string, { readonly optionsWithValue: readonly string[]; readonly positional?: number }>> = {
  exec: { optionsWithValue: ["-a"] },
  command: { optionsWithValue: [] },
  builtin: { optionsWithValue: [] },
  nohup: { optionsWithValue: [] },
  setsid: { optionsWithValue: [] },
  sudo: { optionsWithValue: ["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "--user", "--group", "--chdir", "--prompt"] },
  doas: { optionsWithValue: ["-u", "-C"] },
  env: { optionsWithValue: ["-u", "-C", "--unset", "--chdir"] },
  nice: { optionsWithValue: ["-n", "--adjustment"] },
  ionice: { optionsWithValue: ["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"] },
  stdbuf: { optionsWithValue: ["-i", "-o", "-e"] },
  timeout: { optionsWithValue: ["-s", "-k", "--signal", "--kill-after"], positional: 1 },
  flock: { optionsWithValue: ["-w", "-E", "--timeout", "--conflict-exit-code"], positional: 1 },
  chroot: { optionsWithValue: ["--userspec", "--groups"], positional: 1 },
  unshare: { optionsWithValue: ["--propagation", "--setgroups", "-S", "--setuid", "-G", "--setgid", "--wd"] },
  nsenter: { optionsWithValue: ["-t", "--target", "-S", "-G", "--setuid", "--setgid", "--wd", "-w"] },
  runuser: { optionsWithValue: ["-u", "-g", "-G", "--user", "--group", "--supp-group"] },
  setpriv: {
    optionsWithValue: [
      "--reuid",
      "--regid",
      "--groups",
      "--inh-caps",
      "--ambient-caps",
      "--bounding-set",
      "--securebits",
      "--pdeathsig",
      "--selinux-label",
      "--apparmor-profile",
    ],
  },
  "systemd-run": {
    optionsWithValue: [
      "-p",
      "--property",
      "-u",
      "--unit",
      "-E",
      "--setenv",
      "--uid",
      "--gid",
      "-M",
      "--machine",
      "-H",
      "--host",
      "--description",
      "--slice",
      "--working-directory",
      "-d",
      "--nice",
      "--service-type",
      "--on-active",
      "--on-boot",
      "--on-calendar",
      "--path-property",
      "--socket-property",
      "--timer-property",
    ],
  },
  chrt: { optionsWithValue: [], positional: 1 },
  taskset: { optionsWithValue: [], positional: 1 },
  watch: { optionsWithValue: ["-n", "--interval", "-d"] },
};

/** Interpreters of other languages: their programs are text the pack cannot read as bash. */
export const OTHER_LANGUAGES: ReadonlySet<string> = new Set([
  "perl",
  "python",
  "python2",
  "python3",
  "ruby",
  "node",
  "nodejs",
  "php",
  "lua",
  "tclsh",
  "expect",
  "awk",
  "gawk",
  "mawk",
  "nawk",
  "busybox-awk",
]);

export interface Invocation {
  /** Basename of the program: `/usr/bin/mount` and `\mount` are both `mount`. */
  readonly program: string;
  readonly args: readonly ResolvedWord[];
  readonly line: number;
  /** The command as written from its program (or wrapper) on, for messages. */
  readonly text: string;
  /** Redirections of the command, targets resolved like arguments. */
  readonly redirects: readonly { readonly op: string; readonly target: ResolvedWord }[];
  /** True when `program` names a function the same script defines: its body is read where it is written. */
  readonly definedHere: boolean;
  /**
   * The evidence this hook is handed by name: the prelude values of the keys the lab's evidence
   * components use for images, nbd devices, mount points and transfer folders (EVIDENCE_KEYS).
   */
  readonly evidencePaths: readonly string[];
  /**
   * Among them, the guest's copies of copied files (DESTS): read-only like all evidence while the lab
   * examines them, but the lab's own files on the case storage, which the transfer's delete removes.
   */
  readonly copyPaths: readonly string[];
}

/** A command whose effect the reader cannot see: what it runs is decided at run time or elsewhere. */
export interface OpaqueCommand {
  readonly line: number;
  readonly text: string;
  readonly why: string;
  /**
   * Set when the opaque part is a variable that neither the prelude nor the script sets: under
   * `set -u` bash stops there, so it is opaque only if the command's environment supplies the name.
   */
  readonly onlyIfEnvironmentSets?: string;
}

/** A redirection of any command, bare `>/dev/x` and `exec 3>/dev/x` included. */
export interface HookRedirect {
  readonly line: number;
  readonly op: string;
  readonly target: ResolvedWord;
  readonly evidencePaths: readonly string[];
}

export interface HookReading {
  readonly invocations: Invocation[];
  readonly opaque: OpaqueCommand[];
  readonly redirects: HookRedirect[];
}

/**
 * Prelude keys under which the lab's components hand a hook the evidence it works on: image files and
 * json: specs, nbd devices, partition mount points, transfer folders. A command that names one of
 * these (or a path under it) touches evidence.
 */
export const EVIDENCE_KEYS: readonly string[] = [
  "IMAGE_SPEC",
  "IMAGE_PATH",
  "LAYER_PATHS",
  "LAYER_ALONE_SPECS",
  "NBD_DEVICE",
  "ARRAY_DEVICE",
  "MEMBER_DEVICES",
  "MOUNT_POINT",
  "MOUNT_ROOT",
  "MOUNT_POINTS",
  "GUEST_ROOT",
  "GUEST_PATHS",
  "HOST_FILES",
  "PATHS",
  "WAIT_MOUNTS",
  "LAYER_DIR",
  "DESTS",
  "FOLDERS",
  "SEGMENTS",
  "EWF_SEGMENTS",
  "EWF_MOUNT",
  "HOST_FIRST_SEGMENT",
  "GUEST_FIRST_SEGMENT",
];

/** The guest's copies of copied files: an ImageTransfer's DESTS (see Invocation.copyPaths). */
function copyPathsOf(values: ReadonlyMap<string, PreludeValue>): string[] {
  const dests = values.get("DESTS");
  return dests === undefined ? [] : typeof dests === "string" ? [dests] : [...dests];
}

function evidencePathsOf(values: ReadonlyMap<string, PreludeValue>): string[] {
  const paths: string[] = [];
  for (const key of EVIDENCE_KEYS) {
    const value = values.get(key);
    for (const item of value === undefined ? [] : typeof value === "string" ? [value] : value) {
      if (item !== "" && item !== "/" && !parseRenderedHook(item)) paths.push(item.replace(/\/+$/, ""));
    }
  }
  return paths;
}

/**
 * Device nodes that are not disks: writing to them touches no evidence. Descriptors 0 to 2 are the
 * hook's own streams; a higher one (`/dev/fd/3`) may be one the hook opened on evidence, and reopening it
 * by that name opens the device again, for writing too.
 */
const NOT_DISKS = /^\/dev\/(null|zero|full|random|urandom|tty|stdin|stdout|stderr|fd\/[0-2]|fuse|ptmx|kmsg|pts\/[0-9]+)$/;

/**
 * A path as the kernel resolves its spelling: `//dev/x`, `/./dev/x` and `/tmp/../dev/x` are `/dev/x`;
 * `/proc/self/root/x` (or a pid's) is `/x`; `/proc/self/fd/N` is the descriptor `/dev/fd/N`.
 */
export function canonicalPath(p: string): string {
  for (let c = p, previous = ""; ; previous = c) {
    c = posix.normalize(c).replace(/^\/proc\/(self|thread-self|[0-9]+)\/root(?=\/|$)/, "") || "/";
    c = c.replace(/^\/proc\/(self|thread-self|[0-9]+)\/fd\//, "/dev/fd/");
    if (c === previous) return c;
  }
}

/**
 * The evidence location a word names, or undefined: a disk device (`/dev/nbd0p1`, `/dev/mapper/x`,
 * `/dev/sda`: any /dev node but null, zero, tty and friends), a qemu `json:` spec, or one of the hook's
 * evidence paths (EVIDENCE_KEYS) or a path under it, however the path is spelt (`canonicalPath`).
 * Looked for in the whole word and after each `=` (`of=/dev/nbd0`, `--connect=/dev/nbd0`).
 */
export function evidenceNamedBy(word: ResolvedWord, evidencePaths: readonly string[]): string | undefined {
  const text = word.text;
  for (const m of text.matchAll(/(?:^|[\s=:,'"(])(\/[^\s,'"=:;)]*)/g)) {
    const device = canonicalPath(m[1]);
    if (device.startsWith("/dev/") && !NOT_DISKS.test(device)) return m[1];
  }
  const candidates = [text, ...[...text.matchAll(/=/g)].map((m) => text.slice((m.index ?? 0) + 1))];
  for (const c of candidates) {
    if (c.startsWith("json:")) return c.length > 40 ? `${c.slice(0, 37)}...` : c;
    const resolved = c.startsWith("/") ? canonicalPath(c) : c;
    const path = evidencePaths.find((p) => resolved === p || resolved.startsWith(`${p}/`));
    if (path !== undefined) return c;
  }
  return undefined;
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/;

type Unwrapped =
  | { readonly program: string; readonly args: readonly ResolvedWord[]; readonly text: string }
  /** `words[at]` is the program word the reader could not resolve. */
  | { readonly opaque: string; readonly text: string; readonly words: readonly ResolvedWord[]; readonly at: number }
  | undefined;

/**
 * The program a list of words runs, past keywords, assignments and wrappers such as `sudo`,
 * `timeout 30`, `env X=y`, `busybox mount`, `env -S 'mount ...'`. Undefined for pure assignments.
 */
function unwrap(resolved: readonly ResolvedWord[], values: ReadonlyMap<string, PreludeValue>): Unwrapped {
  let words = resolved;
  let k = 0;
  let text = "";
  for (;;) {
    while (k < words.length && ((words[k].known && KEYWORDS.has(words[k].text)) || ASSIGNMENT.test(words[k].text))) k++;
    if (k >= words.length) return undefined;
    text ||= words
      .slice(k)
      .map((w) => w.text)
      .join(" ");
    const program = programName(words[k]);
    if (program === undefined) return { opaque: "runs a program chosen at run time", text, words, at: k };
    if (program === "busybox" && k + 1 < words.length && !words[k + 1].text.startsWith("-")) {
      k++;
      continue;
    }
    const prefix = PREFIX_COMMANDS[program];
    if (!prefix) return { program, args: words.slice(k + 1), text };
    k++;
    let positional = prefix.positional ?? 0;
    while (k < words.length) {
      const w = words[k].text;
      if (w === "--") {
        k++;
        break;
      }
      if (program === "env" && /^(-S|--split-string)/.test(w)) {
        // `env -S 'mount -o rw ...'`: env splits the string into the command line.
        const inline = w.startsWith("--split-string=")
          ? w.slice("--split-string=".length)
          : w.length > 2 && !w.startsWith("--")
            ? w.slice(2)
            : undefined;
        const value = inline !== undefined ? { text: inline, known: words[k].known } : words[k + 1];
        if (!value || !value.known) return { opaque: "runs a command line built at run time (env -S)", text, words, at: -1 };
        const split = parseScript(value.text)[0]?.words.map((x) => resolveWord(x, values)) ?? [];
        words = [...split, ...words.slice(k + (inline !== undefined ? 1 : 2))];
        k = 0;
        break;
      }
      if (w.startsWith("-") && w.length > 1) {
        k += prefix.optionsWithValue.includes(w) ? 2 : 1;
      } else if (program === "env" && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)) {
        k++;
      } else if (positional > 0) {
        positional--;
        k++;
      } else break;
    }
  }
}

/**
 * The program a simple command runs and its arguments, past keywords, assignments and wrappers.
 * Undefined for pure assignments and for programs chosen at run time.
 */
export function invocationOf(command: SimpleCommand, values: ReadonlyMap<string, PreludeValue>): Invocation | undefined {
  const found = unwrap(
    command.words.map((w) => resolveWord(w, values)),
    values,
  );
  if (!found || !("program" in found)) return undefined;
  return {
    ...found,
    line: command.line,
    redirects: command.redirects.map((r) => ({ op: r.op, target: resolveWord(r.target, values) })),
    definedHere: false,
    evidencePaths: evidencePathsOf(values),
    copyPaths: copyPathsOf(values),
  };
}

function programName(word: ResolvedWord): string | undefined {
  if (!word.known) return undefined;
  const base = word.text.replace(/^\\/, "").split("/").pop();
  return base === "" ? undefined : base;
}

/**
 * Every simple command of a hook text, with the prelude constants that apply to it. Rendered hooks are
 * opened, and so is any prelude value or array item that is itself a rendered hook (the in-guest
 * wrapper's `INNER_HOOK`, ImageTransfer's `PIPES`); text that is not a rendered hook is read as a bare
 * script. Command strings passed to `bash -c`, `sh -c`, `eval`, `su -c`, `trap`, `env -S`, here-strings
 * fed to a shell and `ssh` are read as scripts too when they are known; `find -exec` and functions that
 * run `"$@"` are unwrapped.
 */
export function invocationsIn(text: string): Invocation[] {
  return readHookText(text).invocations;
}

/** Like `invocationsIn`, and also every command whose effect the reader cannot see (OpaqueCommand). */
export function readHookText(text: string): HookReading {
  const reading: HookReading = { invocations: [], opaque: [], redirects: [] };
  collect(text, new Map(), reading, 0);
  return reading;
}

const SHELLS = new Set(["bash", "sh", "dash", "zsh", "ksh", "ash", "mksh", "rbash"]);
const SSH_OPTIONS_WITH_VALUE = new Set([
  "-b",
  "-c",
  "-D",
  "-E",
  "-e",
  "-F",
  "-I",
  "-i",
  "-J",
  "-L",
  "-l",
  "-m",
  "-O",
  "-o",
  "-p",
  "-Q",
  "-R",
  "-S",
  "-W",
  "-w",
  "-B",
]);

interface FunctionDefinition {
  readonly firstLine: number;
  readonly lastLine: number;
  /** Runs its own arguments as a command (`"$@"`), after `shift`ing this many away. */
  readonly runsArguments: boolean;
  readonly shifts: number;
}

/** `name() { ... }` and `function name { ... }` definitions of a script, by name. */
function functionDefinitions(script: string): Map<string, FunctionDefinition> {
  const found = new Map<string, FunctionDefinition>();
  const start = /(^|[\n;&|])[ \t]*(?:function[ \t]+)?([A-Za-z_][A-Za-z0-9_:.-]*)[ \t]*(?:\(\)[ \t]*)?\{/g;
  for (let m = start.exec(script); m; m = start.exec(script)) {
    const header = m[0];
    if (!header.includes("()") && !/function[ \t]/.test(header)) continue;
    let depth = 1;
    let k = m.index + header.length;
    while (k < script.length && depth > 0) {
      const c = script[k];
      if (c === "\\") k += 2;
      else if (c === "'") k = script.indexOf("'", k + 1) < 0 ? script.length : script.indexOf("'", k + 1) + 1;
      else if (c === '"') {
        // Inside double quotes a ' is a plain character and braces are text: skip to the closing quote.
        for (k++; k < script.length && script[k] !== '"';) k += script[k] === "\\" ? 2 : 1;
        k++;
      } else if (c === "#" && /[\s;]/.test(script[k - 1] ?? " ")) while (k < script.length && script[k] !== "\n") k++;
      else {
        if (c === "{") depth++;
        else if (c === "}") depth--;
        k++;
      }
    }
    const body = script.slice(m.index + header.length, k - 1);
    const lineAt = (index: number) => script.slice(0, index).split("\n").length;
    let shifts = 0;
    for (const s of body.matchAll(/(?:^|[\s;&|{])shift(?:[ \t]+(\d+))?(?=[\s;&|}]|$)/g)) shifts += s[1] ? Number(s[1]) : 1;
    found.set(m[2], {
      firstLine: lineAt(m.index + m[1].length),
      lastLine: lineAt(k),
      runsArguments: /(?:^|[\n;&|{(]|\bthen|\bdo|\bif|!|&&|\|\|)[ \t]*"\$\{?@\}?"/.test(body),
      shifts,
    });
  }
  return found;
}

/**
 * Variables that only ever hold the path of a known program: every assignment is empty,
 * `$(command -v prog)`, or a loop variable over literal paths (`for c in /usr/lib/x /usr/libexec/x`).
 */
function programPathVariables(script: string): Map<string, string[]> {
  const code = withoutComments(script);
  const loops = new Map<string, string[] | undefined>();
  for (const m of code.matchAll(/\bfor[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+in[ \t]+([^;\n]*)/g)) {
    const items = m[2].trim().split(/[ \t]+/);
    loops.set(m[1], items.every((i) => /^\/[A-Za-z0-9_./+-]+$/.test(i)) ? items.map((i) => i.split("/").pop()!) : undefined);
  }
  const found = new Map<string, string[]>();
  const rejected = new Set<string>();
  for (const m of code.matchAll(/(^|[^A-Za-z0-9_$])([A-Za-z_][A-Za-z0-9_]*)\+?=([^\n]*)/g)) {
    const [name, value] = [m[2], m[3].replace(/[\s;)|&].*$/, "")];
    const command = /^"?\$\(command -v ([A-Za-z0-9_.+-]+)\)"?(\s|;|$)/.exec(m[3]);
    const loop = /^"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"?$/.exec(value);
    const programs = value === "" || value === '""' ? [] : command ? [command[1]] : loop ? loops.get(loop[1]) : undefined;
    if (programs === undefined) rejected.add(name);
    else found.set(name, [...(found.get(name) ?? []), ...programs]);
  }
  for (const name of rejected) found.delete(name);
  for (const name of found.keys()) if (assignsOtherwise(code, name)) found.delete(name);
  return new Map([...found].filter(([, programs]) => programs.length > 0));
}

function withoutComments(script: string): string {
  return script.replace(/(^|\n)[ \t]*#[^\n]*/g, "$1");
}

/** Assignment forms other than `NAME=`: `read NAME`, `for NAME in`, `local NAME`, `printf -v NAME`, ... */
function assignsOtherwise(code: string, name: string): boolean {
  return new RegExp(`\\bfor[ \\t]+${name}\\b|\\b(read|mapfile|readarray|declare|typeset|printf -v)\\b[^\\n;|&]*\\b${name}\\b`).test(code);
}

/** Names the script itself assigns (`NAME=`, `read NAME`, `for NAME in`, `local NAME`, ...). */
function assignsName(script: string, name: string): boolean {
  script = withoutComments(script);
  return new RegExp(`(^|[^A-Za-z0-9_$])${name}(\\[[^\\]]*\\])?\\+?=`).test(script) || assignsOtherwise(script, name);
}

/** Builtins that declare names: their `NAME=value` arguments assign, `-n` makes a name refer to another. */
const DECLARING = new Set(["local", "declare", "typeset", "export", "readonly"]);

/**
 * The prelude's values, plus what the script itself puts in names the prelude does not set, where that
 * names evidence: `device=$NBD_DEVICE`, `dev="${NBD_DEVICE}p$1"`, `for d in "${MEMBER_DEVICES[@]}"`,
 * `local -n d=NBD_DEVICE`. A command handed `$device` is then judged as if handed the evidence itself, so
 * a slip such as `dd of="$device"` is caught like `dd of="$NBD_DEVICE"`. Of the values a name may take,
 * one that names evidence is kept; names that never hold evidence stay unknown, as before.
 */
function withScriptValues(
  commands: readonly SimpleCommand[],
  prelude: ReadonlyMap<string, PreludeValue>,
): ReadonlyMap<string, PreludeValue> {
  const paths = evidencePathsOf(prelude);
  const values = new Map(prelude);
  // A value names evidence, or names a variable that holds it (for `${!name}`).
  const evidential = (c: ResolvedWord): boolean => {
    const held = values.get(c.text);
    return (
      evidenceNamedBy(c, paths) !== undefined ||
      (typeof held === "string" && evidenceNamedBy({ text: held, known: true }, paths) !== undefined)
    );
  };
  const take = (name: string, candidates: readonly ResolvedWord[]): boolean => {
    if (prelude.has(name) || EVIDENCE_KEYS.includes(name) || values.has(name)) return false;
    const named = candidates.find(evidential);
    if (named) values.set(name, named.text);
    return named !== undefined;
  };
  // Again while something new was learnt: `a=$NBD_DEVICE; b=$a` needs two rounds.
  for (let round = 0, learnt = true; learnt && round < 8; round++) {
    learnt = false;
    for (const command of commands) {
      // Past `{`, `then`, `do` and the like: `f() { local d=...; }` assigns like `local d=...`.
      const resolved = command.words.map((w) => resolveWord(w, values));
      const start = resolved.findIndex((w) => !(w.known && KEYWORDS.has(w.text)));
      if (start < 0) continue;
      const source = command.words.slice(start);
      const words = resolved.slice(start);
      const first = words[0];
      if (first.known && first.text === "for" && words[2]?.known && words[2].text === "in") {
        const items = source.slice(3).flatMap((w): ResolvedWord[] => {
          // `"${ARRAY[@]}"` of a prelude array: each item.
          const parts = w.parts.filter((p) => p.kind !== "text" || p.text !== "");
          const all =
            parts.length === 1 && parts[0].kind === "param" ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\[[@*]\]\}$/.exec(parts[0].raw) : null;
          const array = all ? values.get(all[1]) : undefined;
          return Array.isArray(array) ? array.map((text) => ({ text, known: true })) : [resolveWord(w, values)];
        });
        learnt = take(words[1].text, items) || learnt;
        continue;
      }
      // `read [-r] NAME <<< WORD` and `printf -v NAME FORMAT ARGS...`: NAME may hold the word, or any argument.
      if (first.known && first.text === "read") {
        const names = words.slice(1).filter((w) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(w.text));
        const fed = command.redirects.filter((r) => r.op === "<<<").map((r) => resolveWord(r.target, values));
        for (const name of names) learnt = take(name.text, fed) || learnt;
        continue;
      }
      if (first.known && first.text === "printf" && words[1]?.text === "-v" && words[2]) {
        learnt = take(words[2].text, words.slice(4)) || learnt;
        continue;
      }
      const declaring = first.known && DECLARING.has(first.text);
      const reference = declaring && words.some((w) => w.known && /^-[a-zA-Z]*n/.test(w.text));
      for (const word of declaring ? words.slice(1) : words) {
        const assignment = /^([A-Za-z_][A-Za-z0-9_]*)\+?=(.*)$/s.exec(word.text);
        if (!assignment) {
          if (declaring) continue;
          break; // the program's arguments start here
        }
        const [, name, value] = assignment;
        const target = reference ? values.get(value) : undefined;
        const candidate = reference
          ? typeof target === "string"
            ? { text: target, known: true }
            : undefined
          : { text: value, known: word.known };
        if (candidate) learnt = take(name, [candidate]) || learnt;
      }
    }
  }
  return values;
}

function collect(text: string, inherited: ReadonlyMap<string, PreludeValue>, reading: HookReading, depth: number): void {
  if (depth > 8) {
    reading.opaque.push({ line: 1, text: text.slice(0, 80), why: "nests scripts deeper than the reader follows" });
    return;
  }
  const hook = parseRenderedHook(text);
  const script = hook ? hook.body : text;
  // Parsed once: what the script puts in names is learnt from the same commands that are then judged.
  const commands = parseScript(script);
  const values = withScriptValues(commands, hook ? hook.values : inherited);
  if (hook) {
    for (const value of hook.values.values()) {
      for (const item of typeof value === "string" ? [value] : value) {
        if (parseRenderedHook(item)) collect(item, new Map(), reading, depth + 1);
      }
    }
  }
  // The in-guest wrapper runs its INNER_HOOK (read above) through `ssh ... bash -c "$(printf %q ...)"`.
  const trusted = hook !== undefined && isInGuestWrapperBody(hook.body);
  const functions = functionDefinitions(script);
  const programVariables = programPathVariables(script);
  const opaque = (line: number, what: string, why: string, onlyIfEnvironmentSets?: string): void => {
    if (!trusted) reading.opaque.push({ line, text: what, why, ...(onlyIfEnvironmentSets ? { onlyIfEnvironmentSets } : {}) });
  };
  const insideRunner = (line: number) => [...functions.values()].some((f) => f.runsArguments && line >= f.firstLine && line <= f.lastLine);

  const visit = (found: Unwrapped, command: SimpleCommand, nesting: number): void => {
    if (!found) return;
    if ("opaque" in found) {
      const name = found.at >= 0 ? /^\$\{?([A-Za-z_][A-Za-z0-9_]*|@)\}?$/.exec(found.words[found.at].text)?.[1] : undefined;
      if (name === "@" && insideRunner(command.line)) return; // checked at each call instead
      const programs = name === undefined ? undefined : programVariables.get(name);
      if (programs) {
        // `"$setpriv_bin" ...` where the script only ever sets it to `$(command -v setpriv)`.
        const { words, at } = found;
        for (const program of new Set(programs))
          visit(unwrap([...words.slice(0, at), { text: program, known: true }, ...words.slice(at + 1)], values), command, nesting + 1);
        return;
      }
      opaque(command.line, found.text, found.opaque);
      return;
    }
    const invocation: Invocation = {
      ...found,
      line: command.line,
      redirects: command.redirects.map((r) => ({ op: r.op, target: resolveWord(r.target, values) })),
      definedHere: functions.has(found.program),
      evidencePaths: evidencePathsOf(values),
      copyPaths: copyPathsOf(values),
    };
    reading.invocations.push(invocation);
    if (nesting > 8) return;
    const definition = functions.get(found.program);
    if (definition?.runsArguments) {
      visit(unwrap(found.args.slice(definition.shifts), values), command, nesting + 1);
      return;
    }
    if (invocation.definedHere) return;
    for (const nested of seeThrough(invocation, command, values, script, opaque)) {
      if ("script" in nested) collect(nested.script, values, reading, depth + 1);
      else visit(unwrap(nested.words, values), command, nesting + 1);
    }
  };
  for (const command of commands) {
    for (const r of command.redirects)
      reading.redirects.push({
        line: command.line,
        op: r.op,
        target: resolveWord(r.target, values),
        evidencePaths: evidencePathsOf(values),
      });
    visit(
      unwrap(
        command.words.map((w) => resolveWord(w, values)),
        values,
      ),
      command,
      0,
    );
  }
}

type SeenThrough = { readonly script: string } | { readonly words: readonly ResolvedWord[] };

/**
 * What an invocation hands to another interpreter, when the reader can see it: command strings for
 * shells, `eval`, `su -c`, `trap` and `ssh`; the command of `find -exec`. What it cannot see is
 * reported through `opaque`.
 */
function seeThrough(
  invocation: Invocation,
  command: SimpleCommand,
  values: ReadonlyMap<string, PreludeValue>,
  script: string,
  opaque: (line: number, text: string, why: string, onlyIfEnvironmentSets?: string) => void,
): SeenThrough[] {
  const { program, args, line, text } = invocation;
  const commandString = (word: ResolvedWord | undefined, what: string): SeenThrough[] => {
    if (word === undefined) return [];
    if (word.known) return [{ script: word.text }];
    // `bash -c "${PIPES[n]}"`: an item of a prelude array of rendered hooks, each read on its own.
    const item = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\[[^\]]*\]\}$/.exec(word.text);
    const array = item ? values.get(item[1]) : undefined;
    if (Array.isArray(array) && array.every((v) => parseRenderedHook(v))) return [];
    // `bash -c "$GUEST_REMOVE_HOOK"` in a hook rendered without it: `set -u` stops bash first.
    const name = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)(\[[^\]]*\])?\}?$/.exec(word.text)?.[1];
    const unset = name !== undefined && !values.has(name) && !assignsName(script, name) && /\bset -[a-z]*u/.test(script);
    opaque(line, text, `runs ${what} built at run time`, unset ? name : undefined);
    return [];
  };
  if (program === "eval") {
    if (args.every((a) => a.known)) return [{ script: args.map((a) => a.text).join(" ") }];
    opaque(line, text, "evaluates text built at run time (eval)");
    return [];
  }
  if (SHELLS.has(program) || (program === "busybox" && SHELLS.has(args[0]?.text ?? ""))) {
    const shellArgs = program === "busybox" ? args.slice(1) : args;
    let k = 0;
    let dashC = false;
    while (k < shellArgs.length && shellArgs[k].text.startsWith("-") && shellArgs[k].text !== "-" && shellArgs[k].text !== "--") {
      if (/^-[A-Za-z]*c/.test(shellArgs[k].text)) dashC = true;
      k += /^[-+]o$/.test(shellArgs[k].text) ? 2 : 1;
    }
    if (shellArgs[k]?.text === "--") k++;
    if (dashC) return commandString(shellArgs[k], `a command string (${program} -c)`);
    if (k < shellArgs.length) {
      opaque(line, text, `runs a script file the policy cannot read (${program} ${shellArgs[k].text})`);
      return [];
    }
    const hereString = invocation.redirects.find((r) => r.op === "<<<");
    if (hereString) return commandString(hereString.target, `a here-string script (${program} <<<)`);
    if (command.stdin === "heredoc") return []; // the here-document was read as a script
    opaque(
      line,
      text,
      command.stdin === "pipe" ? `runs commands piped into a shell (| ${program})` : `runs commands ${program} reads from standard input`,
    );
    return [];
  }
  if (program === "su" || program === "runuser") {
    const c = args.findIndex((a) => a.text === "-c" || a.text === "--command" || a.text.startsWith("--command="));
    if (c >= 0)
      return commandString(
        args[c].text.startsWith("--command=") ? { text: args[c].text.slice(10), known: args[c].known } : args[c + 1],
        `a command string (${program} -c)`,
      );
    opaque(line, text, `starts a shell that reads commands from standard input (${program})`);
    return [];
  }
  if (program === "trap") {
    const first = args[0];
    if (!first || first.text.startsWith("-")) return [];
    return commandString(first, "a trap command");
  }
  if (program === "ssh") {
    let k = 0;
    while (k < args.length && args[k].text.startsWith("-") && args[k].text !== "--") {
      k += SSH_OPTIONS_WITH_VALUE.has(args[k].text) ? 2 : 1;
    }
    if (args[k]?.text === "--") k++;
    const remote = args.slice(k + 1);
    if (remote.length === 0) return [];
    if (remote.every((a) => a.known)) return [{ script: remote.map((a) => a.text).join(" ") }];
    opaque(line, text, "runs a remote command built at run time (ssh)");
    return [];
  }
  if (program === "find") {
    const out: SeenThrough[] = [];
    const root = args.find((a) => !a.text.startsWith("-") && a.text !== "(" && a.text !== "!");
    for (let k = 0; k < args.length; k++) {
      if (!["-exec", "-execdir", "-ok", "-okdir"].includes(args[k].text)) continue;
      const words: ResolvedWord[] = [];
      for (k++; k < args.length && args[k].text !== ";" && args[k].text !== "+"; k++) {
        const arg = args[k];
        words.push(arg.text.includes("{}") ? { text: arg.text.split("{}").join(`${root?.text ?? "."}/{}`), known: false } : arg);
      }
      out.push({ words });
    }
    return out;
  }
  if (program === "xargs") {
    opaque(line, text, "runs a command on arguments read at run time (xargs)");
    return [];
  }
  if (program === "source" || program === ".") {
    if (args.length > 0) opaque(line, text, `runs a script file the policy cannot read (${program})`);
    return [];
  }
  if (OTHER_LANGUAGES.has(program)) {
    opaque(line, text, `runs a ${program} program, which the policy cannot read`);
    return [];
  }
  return [];
}

/**
 * Every word a hook text holds outside comments, prelude values included, with constants substituted:
 * what "the text carries `noload`" means once comments cannot count.
 */
export function wordsIn(text: string): string[] {
  const words: string[] = [];
  const visit = (t: string, inherited: ReadonlyMap<string, PreludeValue>, depth: number): void => {
    if (depth > 8) return;
    const hook = parseRenderedHook(t);
    const values = hook ? hook.values : inherited;
    if (hook) {
      for (const value of hook.values.values()) {
        for (const item of typeof value === "string" ? [value] : value) {
          if (parseRenderedHook(item)) visit(item, new Map(), depth + 1);
          else words.push(item);
        }
      }
    }
    // A nested hook is visited on its own above; substituted into `"$INNER_HOOK"` it would bring its
    // comments along.
    const scalars = new Map([...values].filter(([, v]) => typeof v !== "string" || !parseRenderedHook(v)));
    for (const command of parseScript(hook ? hook.body : t)) {
      for (const w of command.words) words.push(resolveWord(w, scalars).text);
    }
  };
  visit(text, new Map(), 0);
  return words;
}

/**
 * Every string a secret could hide in: the raw text, and each prelude value decoded from its quoting
 * (a passphrase with a `'` in it is written `'\''` in the text), nested hooks included.
 */
export function decodedTexts(text: string): string[] {
  const texts = [text];
  const visit = (t: string, depth: number): void => {
    const hook = parseRenderedHook(t);
    if (!hook || depth > 8) return;
    for (const value of hook.values.values()) {
      for (const v of typeof value === "string" ? [value] : value) {
        texts.push(v);
        visit(v, depth + 1);
      }
    }
  };
  visit(text, 0);
  return texts;
}

/**
 * The texts of a hook as bash would see their content: each prelude value decoded (nested hooks opened)
 * and each static body; a text that is not a rendered hook is itself. Where embedded documents (domain
 * XML) are looked for: the raw rendered text would show them with their `'\''` quoting.
 */
export function contentTexts(text: string): string[] {
  const texts: string[] = [];
  const visit = (t: string, depth: number): void => {
    const hook = depth <= 8 ? parseRenderedHook(t) : undefined;
    if (!hook) {
      texts.push(t);
      return;
    }
    texts.push(hook.body);
    for (const value of hook.values.values()) {
      for (const v of typeof value === "string" ? [value] : value) visit(v, depth + 1);
    }
  };
  visit(text, 0);
  return texts;
}
