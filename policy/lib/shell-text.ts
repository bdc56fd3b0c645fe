/**
 * Reads the text of a forensic-lab hook the way bash would, closely enough for a policy: the generated
 * prelude of `readonly NAME='value'` lines (the in-guest wrapper's `INNER_HOOK` is itself a rendered hook,
 * quoted inside it), then the static body split into simple commands. Comments are dropped, quotes
 * removed, `$(...)`, backticks, process substitutions, here-documents and `bash -c`/`eval`/`ssh` command
 * strings are read as scripts too, and `$NAME`/`${NAME}` of a prelude constant is replaced by its value
 * (they are `readonly`, so nothing in the hook can change them).
 *
 * What it cannot see: commands built at run time from variables (`"$tool" ...`), `find -exec`
 * argument lists, scripts written to a file and run later. Hooks are static files reviewed in git; the
 * policy pack catches the slip, not the saboteur.
 */

/** One piece of a word as written: literal text, a parameter expansion, or a command substitution. */
export type WordPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "param"; readonly name: string; readonly raw: string }
  | { readonly kind: "substitution"; readonly raw: string };

export interface Word {
  readonly parts: readonly WordPart[];
}

export interface SimpleCommand {
  readonly words: readonly Word[];
  /** 1-based line in the script the command starts on. */
  readonly line: number;
}

/** A word after prelude constants are substituted; `known` is false while any expansion is left. */
export interface ResolvedWord {
  readonly text: string;
  readonly known: boolean;
}

export type PreludeValue = string | readonly string[];

export interface RenderedHook {
  /** The `# forensic-lab hook: <path>` header: a claim by the renderer, not proof of anything. */
  readonly name: string;
  readonly values: ReadonlyMap<string, PreludeValue>;
  /** The static script after `# --- static hook ---`. */
  readonly body: string;
}

const HEADER = /^#!\/usr\/bin\/env bash\n# forensic-lab hook: ([^\n]*)\n# --- values \(generated, quoted\) ---\n/;
const BODY_MARKER = "# --- static hook ---\n";
const NAME = /^[A-Z][A-Z0-9_]*$/;

/**
 * Parses text made by `renderHook` (lib/shell.ts). Returns undefined for anything else: the caller
 * decides whether a bare script is acceptable where it found one.
 */
export function parseRenderedHook(text: string): RenderedHook | undefined {
  const header = HEADER.exec(text);
  if (!header) return undefined;
  const values = new Map<string, PreludeValue>();
  let i = header[0].length;
  while (!text.startsWith(BODY_MARKER, i)) {
    if (!text.startsWith("readonly ", i)) return undefined;
    i += "readonly ".length;
    const eq = text.indexOf("=", i);
    if (eq < 0) return undefined;
    const name = text.slice(i, eq);
    if (!NAME.test(name) || values.has(name)) return undefined;
    i = eq + 1;
    let value: PreludeValue;
    if (text[i] === "(") {
      const items: string[] = [];
      i++;
      while (text[i] !== ")") {
        if (items.length > 0) {
          if (text[i] !== " ") return undefined;
          i++;
        }
        const word = readQuotedWord(text, i);
        if (!word) return undefined;
        items.push(word.value);
        i = word.end;
      }
      i++;
      value = items;
    } else {
      const word = readQuotedWord(text, i);
      if (!word) return undefined;
      value = word.value;
      i = word.end;
    }
    if (text[i] !== "\n") return undefined;
    i++;
    values.set(name, value);
  }
  return { name: header[1], values, body: text.slice(i + BODY_MARKER.length) };
}

/** One word in `shellQuote` form: `'...'` runs joined by `\'`. */
function readQuotedWord(text: string, start: number): { value: string; end: number } | undefined {
  let i = start;
  let value = "";
  let pieces = 0;
  for (;;) {
    if (text[i] === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) return undefined;
      value += text.slice(i + 1, close);
      i = close + 1;
    } else if (text.startsWith("\\'", i)) {
      value += "'";
      i += 2;
    } else {
      break;
    }
    pieces++;
  }
  return pieces > 0 ? { value, end: i } : undefined;
}

const KEYWORDS = new Set(["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time", "coproc"]);

/** Splits a bash script into simple commands, scripts nested in it included. Never throws. */
export function parseScript(script: string): SimpleCommand[] {
  const out: SimpleCommand[] = [];
  new Lexer(script, 1, out).run();
  return out;
}

/**
 * One pass over a script: words are built from quoted and unquoted pieces, simple commands end at
 * newlines and `;`, `&`, `|`, `(`, `)`. Nested scripts (substitutions, here-documents) get a lexer of
 * their own writing into the same list, so their commands come before the command that contains them.
 */
class Lexer {
  private i = 0;
  private line: number;
  private words: Word[] = [];
  private parts: WordPart[] = [];
  private inWord = false;
  private commandLine: number;
  private dropNextWord = false;
  private heredocs: { delimiter: string; stripTabs: boolean }[] = [];

  constructor(
    private readonly src: string,
    firstLine: number,
    private readonly out: SimpleCommand[],
  ) {
    this.line = firstLine;
    this.commandLine = firstLine;
  }

  run(): void {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i];
      const next = s[this.i + 1];
      if (c === "\n") {
        this.endCommand();
        this.i++;
        this.line++;
        this.readHeredocBodies();
        this.commandLine = this.line;
      } else if (c === " " || c === "\t" || c === "\r") {
        this.endWord();
        this.i++;
      } else if (c === "#" && !this.inWord) {
        while (this.i < s.length && s[this.i] !== "\n") this.i++;
      } else if (c === "&" && next === ">") {
        this.redirect(s[this.i + 2] === ">" ? 3 : 2);
      } else if (c === ";" || c === "&" || c === "|") {
        this.endCommand();
        this.i += next === c || (c === "|" && next === "&") ? 2 : 1;
      } else if (c === "(" && this.inWord && this.endsWithAssignment()) {
        // `name=(a b c)`: an array value, data rather than a command.
        const end = this.balancedEnd(this.i + 1, "(", ")");
        this.addText(s.slice(this.i, end));
        this.i = end;
      } else if (c === "(" || c === ")") {
        this.endCommand();
        this.i++;
      } else if ((c === "<" || c === ">") && next === "(") {
        this.substitution(this.i + 2, "(", ")", this.i);
      } else if (c === "<" && next === "<" && s[this.i + 2] === "<") {
        this.endWord();
        this.i += 3;
      } else if (c === "<" && next === "<") {
        this.heredoc();
      } else if (c === "<" || c === ">") {
        // A digit-only word right before a redirection is its file descriptor, not an argument.
        if (this.inWord && this.parts.every((p) => p.kind === "text" && /^\d+$/.test(p.text))) this.resetWord();
        this.redirect(next === ">" || next === "&" || (c === "<" && next === ">") ? 2 : 1);
      } else if (c === "\\") {
        if (next === "\n") {
          this.i += 2;
          this.line++;
        } else {
          this.addText(next ?? "");
          this.i += 2;
        }
      } else if (c === "'") {
        const close = s.indexOf("'", this.i + 1);
        const end = close < 0 ? s.length : close;
        this.addText(s.slice(this.i + 1, end));
        this.countLines(this.i, end);
        this.i = end + 1;
      } else if (c === '"') {
        this.doubleQuoted();
      } else if (c === "$") {
        this.dollar(false);
      } else if (c === "`") {
        this.backtick();
      } else {
        this.addText(c);
        this.i++;
      }
    }
    this.endCommand();
    this.readHeredocBodies();
  }

  private addText(text: string): void {
    this.inWord = true;
    const last = this.parts[this.parts.length - 1];
    if (last && last.kind === "text") this.parts[this.parts.length - 1] = { kind: "text", text: last.text + text };
    else this.parts.push({ kind: "text", text });
  }

  private addPart(part: WordPart): void {
    this.inWord = true;
    this.parts.push(part);
  }

  private resetWord(): void {
    this.parts = [];
    this.inWord = false;
  }

  private endWord(): void {
    if (!this.inWord) return;
    if (this.dropNextWord) this.dropNextWord = false;
    else this.words.push({ parts: this.parts });
    this.resetWord();
  }

  private endCommand(): void {
    this.endWord();
    this.dropNextWord = false;
    if (this.words.length > 0) this.out.push({ words: this.words, line: this.commandLine });
    this.words = [];
    this.commandLine = this.line;
  }

  private endsWithAssignment(): boolean {
    const first = this.parts[0];
    return this.parts.length === 1 && first.kind === "text" && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=$/.test(first.text);
  }

  private countLines(from: number, to: number): void {
    for (let k = from; k < to; k++) if (this.src[k] === "\n") this.line++;
  }

  /** The redirection operator is consumed; its target word is not an argument of the command. */
  private redirect(length: number): void {
    this.endWord();
    this.i += length;
    if (this.src[this.i - 1] === "&" && /[0-9-]/.test(this.src[this.i] ?? "")) {
      // `>&2`, `2>&1`, `<&-`: the target is a descriptor glued to the operator.
      while (/[0-9-]/.test(this.src[this.i] ?? "")) this.i++;
      return;
    }
    this.dropNextWord = true;
  }

  /** Index just past the closing bracket that matches an already consumed opening one. */
  private balancedEnd(from: number, open: string, close: string): number {
    const s = this.src;
    let depth = 1;
    let k = from;
    while (k < s.length) {
      const c = s[k];
      if (c === "\\") k += 2;
      else if (c === "'") {
        const q = s.indexOf("'", k + 1);
        k = q < 0 ? s.length : q + 1;
      } else if (c === '"') {
        k = this.doubleQuoteEnd(k + 1);
      } else if (c === "#" && /[\s;(]/.test(s[k - 1] ?? " ")) {
        while (k < s.length && s[k] !== "\n") k++;
      } else {
        if (c === open) depth++;
        else if (c === close && --depth === 0) return k + 1;
        k++;
      }
    }
    return s.length;
  }

  /** Index just past the `"` closing a double-quoted string whose body starts at `from`. */
  private doubleQuoteEnd(from: number): number {
    const s = this.src;
    let k = from;
    while (k < s.length) {
      const c = s[k];
      if (c === "\\") k += 2;
      else if (c === '"') return k + 1;
      else if (c === "$" && s[k + 1] === "(") k = this.balancedEnd(k + 2, "(", ")");
      else if (c === "`") {
        k++;
        while (k < s.length && s[k] !== "`") k += s[k] === "\\" ? 2 : 1;
        k++;
      } else k++;
    }
    return s.length;
  }

  /** `$(...)`, `<(...)`, `>(...)`: the inside is a script of its own; the word gets a placeholder. */
  private substitution(bodyStart: number, open: string, close: string, rawStart: number): void {
    const end = this.balancedEnd(bodyStart, open, close);
    const bodyEnd = Math.max(bodyStart, end - 1);
    new Lexer(this.src.slice(bodyStart, bodyEnd), this.line, this.out).run();
    this.addPart({ kind: "substitution", raw: this.src.slice(rawStart, end) });
    this.countLines(this.i, end);
    this.i = end;
  }

  private backtick(): void {
    const s = this.src;
    let k = this.i + 1;
    let body = "";
    while (k < s.length && s[k] !== "`") {
      if (s[k] === "\\" && k + 1 < s.length) {
        body += s[k + 1];
        k += 2;
      } else body += s[k++];
    }
    new Lexer(body, this.line, this.out).run();
    this.addPart({ kind: "substitution", raw: s.slice(this.i, k + 1) });
    this.countLines(this.i, k);
    this.i = k + 1;
  }

  /** At a `$`: parameter expansion, command substitution, arithmetic, or `$'...'`. */
  private dollar(quoted: boolean): void {
    const s = this.src;
    const next = s[this.i + 1];
    if (next === "(" && s[this.i + 2] === "(") {
      const end = this.balancedEnd(this.i + 2, "(", ")");
      this.addPart({ kind: "substitution", raw: s.slice(this.i, end) });
      this.i = end;
    } else if (next === "(") {
      this.substitution(this.i + 2, "(", ")", this.i);
    } else if (next === "{") {
      const end = this.balancedEnd(this.i + 2, "{", "}");
      const raw = s.slice(this.i, end);
      const simple = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(raw);
      this.addPart({ kind: "param", name: simple ? simple[1] : "", raw });
      this.i = end;
    } else if (next !== undefined && /[A-Za-z_]/.test(next)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(this.i + 1))!;
      this.addPart({ kind: "param", name: m[0], raw: "$" + m[0] });
      this.i += 1 + m[0].length;
    } else if (next !== undefined && /[0-9@*#?$!-]/.test(next)) {
      this.addPart({ kind: "param", name: "", raw: "$" + next });
      this.i += 2;
    } else if (next === "'" && !quoted) {
      const close = s.indexOf("'", this.i + 2);
      const end = close < 0 ? s.length : close;
      this.addText(s.slice(this.i + 2, end).replace(/\\(.)/g, "$1"));
      this.i = end + 1;
    } else {
      this.addText("$");
      this.i++;
    }
  }

  private doubleQuoted(): void {
    const s = this.src;
    this.i++;
    this.addText("");
    while (this.i < s.length && s[this.i] !== '"') {
      const c = s[this.i];
      if (c === "\\") {
        const n = s[this.i + 1];
        if (n === "\n") this.line++;
        else if (n === "$" || n === "`" || n === '"' || n === "\\") this.addText(n);
        else this.addText("\\" + (n ?? ""));
        this.i += 2;
      } else if (c === "$") {
        this.dollar(true);
      } else if (c === "`") {
        this.backtick();
      } else {
        if (c === "\n") this.line++;
        this.addText(c);
        this.i++;
      }
    }
    this.i++;
  }

  /** `<<WORD`, `<<-WORD`, `<<'WORD'`: the body follows the next newline. */
  private heredoc(): void {
    const s = this.src;
    this.endWord();
    this.i += 2;
    const stripTabs = s[this.i] === "-";
    if (stripTabs) this.i++;
    while (s[this.i] === " " || s[this.i] === "\t") this.i++;
    let delimiter = "";
    while (this.i < s.length && !/[\s;&|<>()]/.test(s[this.i])) {
      const c = s[this.i];
      if (c !== "'" && c !== '"' && c !== "\\") delimiter += c;
      this.i++;
    }
    this.heredocs.push({ delimiter, stripTabs });
  }

  /** Here-document bodies are read as scripts too: `bash <<EOF` runs them, and data rarely looks like mount. */
  private readHeredocBodies(): void {
    const s = this.src;
    for (const { delimiter, stripTabs } of this.heredocs) {
      const start = this.i;
      const bodyLine = this.line;
      let end = s.length;
      while (this.i < s.length) {
        const eol = s.indexOf("\n", this.i);
        const lineEnd = eol < 0 ? s.length : eol;
        const text = s.slice(this.i, lineEnd);
        const lineStart = this.i;
        this.i = eol < 0 ? s.length : eol + 1;
        this.line++;
        if ((stripTabs ? text.replace(/^\t+/, "") : text) === delimiter) {
          end = lineStart;
          break;
        }
      }
      new Lexer(s.slice(start, Math.min(end, this.i)), bodyLine, this.out).run();
    }
    this.heredocs = [];
  }
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
    if (typeof value === "string") text += value;
    else {
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
  sudo: { optionsWithValue: ["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"] },
  doas: { optionsWithValue: ["-u", "-C"] },
  env: { optionsWithValue: ["-u", "-C", "-S", "--unset", "--chdir"] },
  nice: { optionsWithValue: ["-n", "--adjustment"] },
  ionice: { optionsWithValue: ["-c", "-n", "-p", "-P", "-u", "--class", "--classdata"] },
  stdbuf: { optionsWithValue: ["-i", "-o", "-e"] },
  timeout: { optionsWithValue: ["-s", "-k", "--signal", "--kill-after"], positional: 1 },
  flock: { optionsWithValue: ["-w", "-E", "--timeout", "--conflict-exit-code"], positional: 1 },
  chroot: { optionsWithValue: ["--userspec", "--groups"], positional: 1 },
  unshare: { optionsWithValue: [] },
  nsenter: { optionsWithValue: ["-t", "--target", "-S", "-G"] },
  runuser: { optionsWithValue: ["-u", "-g", "-G", "--user", "--group"] },
  setpriv: { optionsWithValue: [] },
  xargs: { optionsWithValue: ["-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "--max-args", "--max-procs", "--delimiter", "--arg-file"] },
};

export interface Invocation {
  /** Basename of the program: `/usr/bin/mount` and `\mount` are both `mount`. */
  readonly program: string;
  readonly args: readonly ResolvedWord[];
  readonly line: number;
  /** The command as written from its program (or wrapper) on, for messages. */
  readonly text: string;
}

/**
 * The program a simple command runs and its arguments, past keywords, assignments and wrappers such as
 * `sudo`, `timeout 30`, `env X=y`. Undefined for pure assignments and for programs chosen at run time.
 */
export function invocationOf(command: SimpleCommand, values: ReadonlyMap<string, PreludeValue>): Invocation | undefined {
  const words = command.words.map((w) => resolveWord(w, values));
  let k = 0;
  let text = "";
  for (;;) {
    while (k < words.length && words[k].known && (KEYWORDS.has(words[k].text) || /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(words[k].text))) k++;
    if (k >= words.length) return undefined;
    text ||= words.slice(k).map((w) => w.text).join(" ");
    const program = programName(words[k]);
    if (program === undefined) return undefined;
    const prefix = PREFIX_COMMANDS[program];
    if (!prefix) return { program, args: words.slice(k + 1), line: command.line, text };
    k++;
    let positional = prefix.positional ?? 0;
    while (k < words.length) {
      const w = words[k].text;
      if (w === "--") {
        k++;
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

function programName(word: ResolvedWord): string | undefined {
  if (!word.known) return undefined;
  const base = word.text.replace(/^\\/, "").split("/").pop();
  return base === "" ? undefined : base;
}

/**
 * Every simple command of a hook text, with the prelude constants that apply to it. Rendered hooks are
 * opened, and so is any prelude value or array item that is itself a rendered hook (the in-guest
 * wrapper's `INNER_HOOK`, ImageTransfer's `PIPES`); text that is not a rendered hook is read as a bare
 * script. Command strings passed to `bash -c`, `sh -c`, `eval` and `ssh` are read as scripts too when
 * they are known.
 */
export function invocationsIn(text: string): Invocation[] {
  const found: Invocation[] = [];
  collect(text, new Map(), found, 0);
  return found;
}

const SHELLS = new Set(["bash", "sh", "dash", "zsh", "ksh", "busybox"]);
const SSH_OPTIONS_WITH_VALUE = new Set(["-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"]);

function collect(text: string, inherited: ReadonlyMap<string, PreludeValue>, found: Invocation[], depth: number): void {
  if (depth > 8) return;
  const hook = parseRenderedHook(text);
  const values = hook ? hook.values : inherited;
  if (hook) {
    for (const value of hook.values.values()) {
      for (const item of typeof value === "string" ? [value] : value) {
        if (parseRenderedHook(item)) collect(item, new Map(), found, depth + 1);
      }
    }
  }
  for (const command of parseScript(hook ? hook.body : text)) {
    const invocation = invocationOf(command, values);
    if (!invocation) continue;
    found.push(invocation);
    for (const script of nestedScripts(invocation)) collect(script, values, found, depth + 1);
  }
}

/** Command strings an invocation hands to another shell, when their text is known. */
function nestedScripts(invocation: Invocation): string[] {
  const { program, args } = invocation;
  if (program === "eval") return args.every((a) => a.known) ? [args.map((a) => a.text).join(" ")] : [];
  if (SHELLS.has(program)) {
    const c = args.findIndex((a) => /^-[A-Za-z]*c[A-Za-z]*$/.test(a.text));
    const script = c >= 0 ? args[c + 1] : undefined;
    return script && script.known ? [script.text] : [];
  }
  if (program === "ssh") {
    let k = 0;
    while (k < args.length && args[k].text.startsWith("-") && args[k].text !== "--") {
      k += SSH_OPTIONS_WITH_VALUE.has(args[k].text) ? 2 : 1;
    }
    if (args[k]?.text === "--") k++;
    const remote = args.slice(k + 1);
    return remote.length > 0 && remote.every((a) => a.known) ? [remote.map((a) => a.text).join(" ")] : [];
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
