import { TYPE } from "../../lib/tokens";
import { isUnknownValueError } from "./unknowns";

/** Resource types whose hook commands touch evidence: their children are held to read-only text. */
export const EVIDENCE_COMPONENTS: readonly string[] = [
  TYPE.ImageTransfer,
  TYPE.NbdAttachment,
  TYPE.VolumeSystems,
  TYPE.RaidArray,
  TYPE.PartitionMount,
];

/**
 * Components whose children may write by design: the EvidenceVolume's case storage and the guest's own
 * disks. Every other command, wherever it hangs in the tree, is read as if it touched evidence, so a
 * command parented somewhere unexpected cannot slip past the read-only checks.
 */
export const WRITABLE_COMPONENTS: readonly string[] = [TYPE.EvidenceVolume, TYPE.AnalysisGuest];

/** `@pulumi/command` resources: their `create`/`delete` text is what actually runs. */
export function isCommandType(type: string): boolean {
  return type === "command:local:Command" || type === "command:remote:Command";
}

/**
 * The types of a resource's ancestors, nearest last, read from its URN
 * (`urn:pulumi:stack::project::A$B$command:local:Command::name`). The engine builds the URN from the
 * real parent chain, so a component cannot claim a different place in the tree.
 */
export function ancestorTypes(urn: string): string[] {
  const parts = urn.replace(/^urn:pulumi:/, "").split("::");
  const qualified = parts[2] ?? "";
  return qualified.split("$").slice(0, -1);
}

/** The nearest ancestor type, or undefined for a top-level resource. */
export function parentType(urn: string): string | undefined {
  const ancestors = ancestorTypes(urn);
  return ancestors[ancestors.length - 1];
}

/** True when no EvidenceVolume or AnalysisGuest sits above the resource. */
export function inEvidenceScope(urn: string): boolean {
  return !ancestorTypes(urn).some((t) => WRITABLE_COMPONENTS.includes(t));
}

/** The short name of a type token, for messages: `forensic-lab:index:NbdAttachment` -> `NbdAttachment`. */
export function shortType(type: string): string {
  return type.split(":").pop() ?? type;
}

export type Peeked = { readonly known: true; readonly value: unknown } | { readonly known: false };

/**
 * Reads a property without tripping @pulumi/policy's unknown-value proxy: during preview an input that
 * depends on another resource's output is unknown, and touching it throws.
 */
export function peek(props: Record<string, unknown>, key: string): Peeked {
  try {
    return { known: true, value: deepRead(props[key]) };
  } catch (err) {
    if (isUnknownValueError(err)) return { known: false };
    throw err;
  }
}

/** Copies a (proxied) value into plain data, so an unknown nested anywhere in it surfaces here. */
function deepRead(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deepRead);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = deepRead((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

export interface HookText {
  readonly step: "create" | "delete";
  readonly text: string;
}

/**
 * A command's non-empty hook texts that are known now. During preview a text built from another
 * resource's outputs is unknown: it is left out here and read at `pulumi up`, where the engine checks
 * each resource before creating it (rather than one "can't run during preview" advisory per policy and
 * command, which buries the findings that preview can make). `complete` says whether anything was left out.
 */
export function commandTexts(props: Record<string, unknown>): HookText[] & { readonly complete: boolean } {
  const texts: HookText[] = [];
  let complete = true;
  for (const step of ["create", "delete"] as const) {
    const value = peek(props, step);
    if (!value.known) complete = false;
    else if (typeof value.value === "string" && value.value !== "") texts.push({ step, text: value.value });
  }
  return Object.assign(texts, { complete });
}

/** A command line for a message: one line, at most 160 characters. */
export function excerpt(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 160 ? `${line.slice(0, 157)}...` : line;
}

/** `JSON.stringify` that says `undefined` instead of dropping it, for "got ..." in messages. */
export function show(value: unknown): string {
  return value === undefined ? "undefined" : JSON.stringify(value);
}
