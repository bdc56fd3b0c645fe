/**
 * The format of a rendered hook, written by `renderHook` (lib/shell.ts) and read back here: the one
 * writer and the one reader, for the components, the policy pack and the tests alike.
 *
 *   #!/usr/bin/env bash
 *   # forensic-lab hook: <repository path of the hook file>
 *   # --- values (generated, quoted) ---
 *   readonly NAME='value'            (or NAME=('a' 'b'), every word in shellQuote form)
 *   # --- static hook ---
 *   <the hook file, shebang dropped, includes expanded>
 *
 * The in-guest wrapper's INNER_HOOK value is itself a rendered hook.
 */

export const HOOK_SHEBANG = "#!/usr/bin/env bash\n";
export const HOOK_HEADER = "# forensic-lab hook: ";
export const VALUES_MARKER = "# --- values (generated, quoted) ---\n";
export const BODY_MARKER = "# --- static hook ---\n";

export type PreludeValue = string | readonly string[];

export interface RenderedHook {
  /** The `# forensic-lab hook: <path>` header: a claim by the renderer, not proof of anything. */
  readonly name: string;
  readonly values: ReadonlyMap<string, PreludeValue>;
  /** The static script after `# --- static hook ---`. */
  readonly body: string;
}

const HEADER = new RegExp(`^${escape(HOOK_SHEBANG)}${escape(HOOK_HEADER)}([^\\n]*)\\n${escape(VALUES_MARKER)}`);
const NAME = /^[A-Z][A-Z0-9_]*$/;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Parses text made by `renderHook`. Returns undefined for anything else: the caller
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

/** The hook scripts a rendered text runs, outermost first: the in-guest wrapper, then its inner hook. */
export function renderedHookPaths(text: string): string[] {
  const paths: string[] = [];
  for (let hook = parseRenderedHook(text); hook;) {
    paths.push(hook.name);
    const inner = hook.values.get("INNER_HOOK");
    hook = typeof inner === "string" ? parseRenderedHook(inner) : undefined;
  }
  return paths;
}

/** Whether a rendered text runs `scriptPath` (repository-relative), itself or wrapped for the guest. */
export function runsHook(text: string, scriptPath: string): boolean {
  return renderedHookPaths(text).includes(scriptPath);
}

/** A rendered hook, or an error saying the text is not one. */
export function readRenderedHook(text: string): RenderedHook {
  const hook = parseRenderedHook(text);
  if (!hook) throw new Error(`not a rendered hook: ${JSON.stringify(text.slice(0, 80))}...`);
  return hook;
}

/** One scalar value of a rendered hook's prelude; an error if it is missing or a list. */
export function hookValue(text: string, name: string): string {
  const value = readRenderedHook(text).values.get(name);
  if (typeof value !== "string") throw new Error(`rendered hook has no scalar ${name}`);
  return value;
}

/** One list value of a rendered hook's prelude; an error if it is missing or a scalar. */
export function hookList(text: string, name: string): readonly string[] {
  const value = readRenderedHook(text).values.get(name);
  if (!Array.isArray(value)) throw new Error(`rendered hook has no list ${name}`);
  return value;
}

/** The rendered hook an in-guest command runs (the wrapper's INNER_HOOK); an error for any other text. */
export function innerHook(text: string): string {
  const inner = hookValue(text, "INNER_HOOK");
  readRenderedHook(inner);
  return inner;
}

/** The hook a text finally runs: itself, or the inner hook of the in-guest wrapper. */
export function innermostHook(text: string): string {
  const inner = readRenderedHook(text).values.get("INNER_HOOK");
  return typeof inner === "string" ? innermostHook(inner) : text;
}
