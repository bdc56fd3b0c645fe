/**
 * The shell lexer of the policy pack: splits a bash script into simple commands (words, redirections,
 * where stdin comes from), reading the scripts nested in it too: `$(...)`, backticks, process
 * substitutions, here-documents fed to a shell. It knows nothing of hooks or evidence; shell-text.ts
 * reads hooks with it.
 */
/** One piece of a word as written: literal text, a parameter expansion, or a command substitution. */
export type WordPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "param"; readonly name: string; readonly raw: string }
  | { readonly kind: "substitution"; readonly raw: string };

export interface Word {
  readonly parts: readonly WordPart[];
}

export interface Redirect {
  /** `>`, `>>`, `>|`, `&>`, `&>>`, `<>`, `<`, `<<<` (a here-string's word is its target). */
  readonly op: string;
  readonly target: Word;
}

export interface SimpleCommand {
  readonly words: readonly Word[];
  /** 1-based line in the script the command starts on. */
  readonly line: number;
  /** Redirections with a file (or here-string) target; `2>&1` style descriptor copies are left out. */
  readonly redirects: readonly Redirect[];
  /** Where standard input comes from when it is not the hook's own: a pipe, a here-document. */
  readonly stdin?: "pipe" | "heredoc";
}

/** Programs a here-document is data for (its text is not run), unlike `bash <<EOF`. */
const DATA_READERS = new Set([
  "cat",
  "tee",
  "jq",
  "grep",
  "sed",
  "sort",
  "head",
  "tail",
  "tr",
  "wc",
  "read",
  "mapfile",
  "readarray",
  "printf",
  "echo",
  "sha256sum",
  "base64",
]);

export const KEYWORDS: ReadonlySet<string> = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "!",
  "{",
  "}",
  "time",
  "coproc",
]);

/** A word's text when it is plain text (no expansion in it). */
function wordText(word: Word): string | undefined {
  return word.parts.length === 1 && word.parts[0].kind === "text" ? word.parts[0].text : undefined;
}

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
  private pendingRedirect: string | undefined;
  private redirects: Redirect[] = [];
  private stdin: "pipe" | "heredoc" | undefined;
  /** Inside `[[ ... ]]`: `&&`, `||`, `(`, `)`, `<`, `>` are operators of the test, not of the shell. */
  private inTest = false;
  private heredocs: { delimiter: string; stripTabs: boolean; quoted: boolean; data: boolean }[] = [];
  /**
   * Open `case ... in ... esac` statements, innermost last: at a "pattern" a command would start with the
   * next item's pattern (`node)`, `rm|dd)`, which is matched, not run); in a "body" commands run until
   * `;;`, `;&` or `;;&`.
   */
  private cases: ("pattern" | "body")[] = [];

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
      } else if (this.atCasePattern() && c !== ";") {
        this.casePattern();
      } else if (this.inTest && "&|()<>".includes(c) && !this.atTestEnd()) {
        this.addText(c);
        this.i++;
      } else if (
        c === "(" &&
        next === "(" &&
        !this.inWord &&
        this.words.every((w) => w.parts.every((p) => p.kind === "text" && KEYWORDS.has(p.text)))
      ) {
        // `(( arithmetic ))`: no command runs, except in a `$(...)` inside it.
        const end = this.balancedEnd(this.i + 1, "(", ")");
        this.substitutionsIn(s.slice(this.i + 2, Math.max(this.i + 2, end - 1)), this.line);
        this.countLines(this.i, end);
        this.i = end;
        this.endCommand();
      } else if (c === "&" && next === ">") {
        this.redirect(s[this.i + 2] === ">" ? 3 : 2);
      } else if (c === ";" || c === "&" || c === "|") {
        this.endCommand();
        const piped = c === "|" && next !== "|";
        if (c === ";" && (next === ";" || next === "&") && this.cases.length > 0) {
          // `;;`, `;&`, `;;&` end a case item's body: a pattern comes next.
          this.cases[this.cases.length - 1] = "pattern";
          this.i += next === ";" && s[this.i + 2] === "&" ? 3 : 2;
        } else this.i += next === c || (c === "|" && next === "&") ? 2 : 1;
        if (piped) this.stdin = "pipe";
      } else if (c === "(" && this.inWord && this.endsWithAssignment()) {
        // `name=(a b c)`: an array value, data rather than a command, but its words are expanded.
        const end = this.balancedEnd(this.i + 1, "(", ")");
        this.substitutionsIn(s.slice(this.i + 1, Math.max(this.i + 1, end - 1)), this.line);
        this.addText(s.slice(this.i, end));
        this.countLines(this.i, end);
        this.i = end;
      } else if (c === "(" || c === ")") {
        this.endCommand();
        this.i++;
      } else if ((c === "<" || c === ">") && next === "(") {
        this.substitution(this.i + 2, "(", ")", this.i);
      } else if (c === "<" && next === "<" && s[this.i + 2] === "<") {
        this.endWord();
        this.i += 3;
        this.pendingRedirect = "<<<";
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
    if (this.pendingRedirect !== undefined) this.redirects.push({ op: this.pendingRedirect, target: { parts: this.parts } });
    else {
      const text = this.parts.length === 1 && this.parts[0].kind === "text" ? this.parts[0].text : undefined;
      if (text === "[[" && this.words.every((w) => w.parts.every((p) => p.kind === "text" && KEYWORDS.has(p.text)))) this.inTest = true;
      else if (text === "]]") this.inTest = false;
      else if (text === "esac" && this.words.length === 0) this.cases.pop();
      const caseHeader = text === "in" && this.words.length === 2 && wordText(this.words[0]) === "case";
      this.words.push({ parts: this.parts });
      if (caseHeader) {
        this.resetWord();
        this.endCommand();
        this.cases.push("pattern");
      }
    }
    this.pendingRedirect = undefined;
    this.resetWord();
  }

  /** Whether the next word would start a case item's pattern: the first word after `in` or `;;`, unless it is `esac`. */
  private atCasePattern(): boolean {
    if (this.cases[this.cases.length - 1] !== "pattern" || this.inWord || this.words.length > 0) return false;
    return !/^esac(?=[\s;&|)]|$)/.test(this.src.slice(this.i, this.i + 5));
  }

  /**
   * A case item's pattern, `(` optional, up to its `)`: nothing in it runs but a `$(...)` or backtick.
   * What follows is the item's body. Text that does not end like a pattern (a newline, `;`, `&`, a
   * redirection or the script's end before the `)`) is read as commands instead: a misread here must
   * show commands that do not run, never hide one that does.
   */
  private casePattern(): void {
    const s = this.src;
    const start = this.i;
    let k = s[start] === "(" ? start + 1 : start;
    let depth = 0; // extglob groups: `@(a|b)`
    this.cases[this.cases.length - 1] = "body";
    while (k < s.length) {
      const c = s[k];
      if ("\n;&<>".includes(c)) return;
      if (c === "\\") k += 2;
      else if (c === "'") {
        const q = s.indexOf("'", k + 1);
        k = q < 0 ? s.length : q + 1;
      } else if (c === '"') k = this.doubleQuoteEnd(k + 1);
      else if (c === "$" && s[k + 1] === "(") k = this.balancedEnd(k + 2, "(", ")");
      else if (c === ")" && depth === 0) break;
      else {
        if (c === "(") depth++;
        else if (c === ")") depth--;
        k++;
      }
    }
    if (k >= s.length) return;
    this.substitutionsIn(s.slice(start, k), this.line);
    this.countLines(start, k);
    this.i = k + 1;
  }

  private endCommand(): void {
    this.endWord();
    this.pendingRedirect = undefined;
    if (this.words.length > 0 || this.redirects.length > 0) {
      this.out.push({ words: this.words, line: this.commandLine, redirects: this.redirects, ...(this.stdin ? { stdin: this.stdin } : {}) });
    }
    this.words = [];
    this.redirects = [];
    this.stdin = undefined;
    this.inTest = false;
    this.commandLine = this.line;
  }

  /**
   * Whether the word so far is the `]]` that ends a test: bash's metacharacters end a word even there,
   * so in `[[ ... ]]&& cmd`, `]]|| cmd` or `]]>file` the test has ended and what follows is the shell's.
   */
  private atTestEnd(): boolean {
    return this.parts.length === 1 && this.parts[0].kind === "text" && this.parts[0].text === "]]";
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
    const op = this.src.slice(this.i, this.i + length);
    this.i += length;
    if (this.src[this.i - 1] === "&" && /[0-9-]/.test(this.src[this.i] ?? "")) {
      // `>&2`, `2>&1`, `<&-`: the target is a descriptor glued to the operator.
      while (/[0-9-]/.test(this.src[this.i] ?? "")) this.i++;
      return;
    }
    if (this.src[this.i] === "|") this.i++; // `>|` forces the write past noclobber.
    this.pendingRedirect = op;
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
      // Arithmetic: bash expands every `$(...)` and backtick in it first.
      const end = this.balancedEnd(this.i + 2, "(", ")");
      this.substitutionsIn(s.slice(this.i + 3, Math.max(this.i + 3, end - 2)), this.line);
      this.addPart({ kind: "substitution", raw: s.slice(this.i, end) });
      this.countLines(this.i, end);
      this.i = end;
    } else if (next === "(") {
      this.substitution(this.i + 2, "(", ")", this.i);
    } else if (next === "{") {
      const end = this.balancedEnd(this.i + 2, "{", "}");
      const raw = s.slice(this.i, end);
      const simple = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(raw);
      // `${x:-$(cmd)}`, `${x/$(cmd)/y}`: a word inside an expansion is expanded, substitutions and all.
      if (!simple) this.substitutionsIn(raw.slice(2, -1), this.line);
      this.addPart({ kind: "param", name: simple ? simple[1] : "", raw });
      this.countLines(this.i, end);
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
    let quoted = false;
    while (this.i < s.length && !/[\s;&|<>()]/.test(s[this.i])) {
      const c = s[this.i];
      if (c !== "'" && c !== '"' && c !== "\\") delimiter += c;
      else quoted = true;
      this.i++;
    }
    const first = this.words[0]?.parts;
    const program = first?.length === 1 && first[0].kind === "text" ? (first[0].text.split("/").pop() ?? "") : "";
    this.heredocs.push({ delimiter, stripTabs, quoted, data: DATA_READERS.has(program) });
    this.stdin = "heredoc";
  }

  /** Here-document bodies are read as scripts too: `bash <<EOF` runs them, and data rarely looks like mount. */
  private readHeredocBodies(): void {
    const s = this.src;
    for (const { delimiter, stripTabs, quoted, data } of this.heredocs) {
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
      const body = s.slice(start, Math.min(end, this.i));
      if (!data) new Lexer(body, bodyLine, this.out).run();
      // Data for cat or jq: only its `$(...)` and backticks run.
      else if (!quoted) this.substitutionsIn(body, bodyLine);
    }
    this.heredocs = [];
  }

  /**
   * The commands of each `$(...)` and backtick in `text`, which is otherwise data: a here-document fed to
   * cat, an arithmetic expression, a case pattern.
   */
  private substitutionsIn(text: string, line: number): void {
    const lexer = new Lexer(text, line, []);
    for (let k = 0; k < text.length; k++) {
      if (text[k] === "\\") k++;
      else if (text[k] === "$" && text[k + 1] === "(" && text[k + 2] !== "(") {
        const close = lexer.balancedEnd(k + 2, "(", ")");
        new Lexer(text.slice(k + 2, close - 1), line, this.out).run();
        k = close - 1;
      } else if (text[k] === "`") {
        const close = text.indexOf("`", k + 1);
        new Lexer(text.slice(k + 1, close < 0 ? text.length : close), line, this.out).run();
        k = close < 0 ? text.length : close;
      }
    }
  }
}
