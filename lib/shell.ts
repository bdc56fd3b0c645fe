import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { BODY_MARKER, HOOK_HEADER, HOOK_SHEBANG, VALUES_MARKER } from "./rendered-hook";

/**
 * Hooks are static bash scripts. Every value they need reaches them through a generated prelude of
 * `readonly NAME='value'` lines, quoted here and nowhere else, so no value is ever spliced into script
 * text: a folder called `$(rm -rf /)` stays a folder name.
 */
export type HookValue = string | number | boolean | readonly string[];

const NAME = /^[A-Z][A-Z0-9_]*$/;

/** Quotes one word for bash: single quotes, with each embedded `'` written as `'\''`. */
export function shellQuote(word: string): string {
  if (word.includes("\0")) throw new Error("a shell value cannot contain a NUL byte");
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function renderValue(value: HookValue): string {
  if (Array.isArray(value)) return `(${(value as readonly string[]).map((v) => shellQuote(String(v))).join(" ")})`;
  if (typeof value === "boolean") return value ? "'true'" : "'false'";
  return shellQuote(String(value));
}

/** `readonly NAME='value'` lines (arrays become bash arrays), sorted so the text is stable across runs. */
export function renderPrelude(values: Readonly<Record<string, HookValue>>): string {
  return Object.keys(values)
    .sort()
    .map((name) => {
      if (!NAME.test(name)) throw new Error(`hook value name '${name}' must match ${NAME}`);
      const value = values[name];
      if (value === undefined || value === null) throw new Error(`hook value '${name}' is undefined`);
      return `readonly ${name}=${renderValue(value)}`;
    })
    .join("\n");
}

const scriptCache = new Map<string, string>();

/** Reads a hook file once; the path is absolute or relative to the repository root. */
export function readHook(scriptPath: string): string {
  const absolute = path.isAbsolute(scriptPath) ? scriptPath : path.join(REPO_ROOT, scriptPath);
  let text = scriptCache.get(absolute);
  if (text === undefined) {
    text = fs.readFileSync(absolute, "utf8");
    scriptCache.set(absolute, text);
  }
  return text;
}

export const REPO_ROOT = path.resolve(__dirname, fs.existsSync(path.resolve(__dirname, "../package.json")) ? ".." : "../..");

/**
 * The text a hook runs as: shebang, the quoted prelude, then the static script body (its own shebang
 * dropped). Plain strings only; see `hookCommand` for Pulumi inputs.
 */
/**
 * A hook line `# forensic-lab:include <file>` is replaced by that static shell library (its shebang
 * dropped), so hooks that share a function share one copy of it and the rendered text stays one
 * self-contained script. Libraries define functions only and include nothing themselves.
 */
const INCLUDE = /^# forensic-lab:include (\S+)$/gm;

function expandIncludes(text: string): string {
  return text.replace(INCLUDE, (_line, library: string) => {
    const body = readHook(library)
      .replace(/^#![^\n]*\n/, "")
      .trimEnd();
    if (/^# forensic-lab:include /m.test(body)) throw new Error(`hook library '${library}' includes another; libraries must not`);
    return `# --- included: ${library} ---\n${body}\n# --- end of ${library} ---`;
  });
}

/** The static part of a hook exactly as `renderHook` embeds it: shebang dropped, includes expanded. */
export function hookBody(scriptPath: string): string {
  return expandIncludes(readHook(scriptPath).replace(/^#![^\n]*\n/, ""));
}

export function renderHook(scriptPath: string, values: Readonly<Record<string, HookValue>>): string {
  const body = hookBody(scriptPath);
  const name = path.relative(REPO_ROOT, path.isAbsolute(scriptPath) ? scriptPath : path.join(REPO_ROOT, scriptPath));
  return `${HOOK_SHEBANG}${HOOK_HEADER}${name}\n${VALUES_MARKER}${renderPrelude(values)}\n${BODY_MARKER}${body}`;
}

/** `renderHook` over Pulumi inputs: resolves every value, then renders. */
export function hookCommand(scriptPath: string, values: Readonly<Record<string, pulumi.Input<HookValue>>>): pulumi.Output<string> {
  return pulumi
    .output(values as Record<string, pulumi.Input<HookValue>>)
    .apply((resolved) => renderHook(scriptPath, resolved as Record<string, HookValue>));
}

/**
 * How the host reaches a running AnalysisGuest's sshd. The host key is pinned in `knownHostsPath`
 * before the first connection: there is no trust-on-first-use anywhere in the lab.
 */
export interface GuestConnection {
  /** Address of the guest's sshd as seen from the libvirt host; loopback for user networking. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Host path of the per-case private key. */
  readonly privateKeyPath: string;
  /** Host path of a known_hosts file holding exactly the guest's host key. */
  readonly knownHostsPath: string;
  /**
   * The guest's host key (`ssh-ed25519 AAAA...`), when known. Then it is what ssh pins, carried in the
   * command text itself: a replaced guest has a new key, so every in-guest command's text changes and
   * the engine runs it again in the new guest instead of trusting work done in the old one.
   */
  readonly hostKey?: string;
  /** `user@host[:port]` of a remote libvirt host to jump through (qemu+ssh:// URIs); empty when local. */
  readonly jumpHost: string;
  /** libvirt domain name: lets hooks tell "guest gone" from "ssh broken". */
  readonly domainName: string;
  readonly libvirtUri: string;
}

export const IN_GUEST_WRAPPER = "lib/hooks/in-guest.sh";

/**
 * A hook that runs inside the guest. The host runs `lib/hooks/in-guest.sh`, which opens ssh with the
 * pinned host key and runs the rendered inner hook with bash; the command's stdin (secrets) flows
 * through to the inner hook. `onGuestGone`: `fail` for create hooks; `succeed` for delete hooks, where a
 * guest that no longer exists means there is nothing left to undo.
 */
export function inGuestCommand(
  guest: pulumi.Input<GuestConnection>,
  scriptPath: string,
  values: Readonly<Record<string, pulumi.Input<HookValue>>>,
  onGuestGone: "fail" | "succeed",
): pulumi.Output<string> {
  return pulumi
    .all([pulumi.output(guest), hookCommand(scriptPath, values)])
    .apply(([g, inner]) => renderInGuest(g as GuestConnection, inner, onGuestGone));
}

/**
 * The text of the host-side wrapper that runs `innerHook` (complete bash text) in the guest: what
 * `inGuestCommand` renders, for plain values. Tests and the e2e harness use it to run ad-hoc scripts
 * in a guest exactly the way hooks run.
 */
export function renderInGuest(g: GuestConnection, innerHook: string, onGuestGone: "fail" | "succeed"): string {
  return renderHook(IN_GUEST_WRAPPER, {
    GUEST_HOST: g.host,
    GUEST_PORT: g.port,
    GUEST_USER: g.user,
    GUEST_PRIVATE_KEY: g.privateKeyPath,
    GUEST_KNOWN_HOSTS: g.knownHostsPath,
    GUEST_HOST_KEY: g.hostKey ?? "",
    GUEST_JUMP_HOST: g.jumpHost,
    GUEST_DOMAIN: g.domainName,
    LIBVIRT_URI: g.libvirtUri,
    ON_GUEST_GONE: onGuestGone,
    INNER_HOOK: innerHook,
  });
}

export { parseHookResult, RESULT_MARKER } from "./hook-result";
