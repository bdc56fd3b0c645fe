import { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { isCommandType } from "../lib/resources";
import { secretNeedles } from "../lib/secrets";
import { decodedTexts } from "../lib/shell-text";
import { isUnknownValueError } from "../lib/unknowns";

interface KnownSecret {
  readonly needle: string;
  /** Where the secret lives, for the message; never the value. */
  readonly source: string;
}

function read(resource: PolicyResource, key: string): unknown {
  try {
    return resource.props[key];
  } catch (err) {
    if (isUnknownValueError(err)) return undefined;
    throw err;
  }
}

/**
 * What the stack says is secret: every command's stdin (the lab's one channel for secrets), every
 * property a resource lists in additionalSecretOutputs, and the EvidenceVolume's passphrase when the
 * component shows it. Policies see secrets unwrapped (pulumi/pulumi-policy#241), so these are the
 * signals left.
 */
function stackSecrets(resources: readonly PolicyResource[]): KnownSecret[] {
  const secrets = new Map<string, string>();
  const add = (value: unknown, source: string): void => {
    for (const needle of secretNeedles(value)) if (!secrets.has(needle)) secrets.set(needle, source);
  };
  for (const r of resources) {
    if (isCommandType(r.type)) add(read(r, "stdin"), `stdin of '${r.name}'`);
    if (r.type === TYPE.EvidenceVolume) add(read(r, "passphrase"), `passphrase of '${r.name}'`);
    for (const key of r.opts.additionalSecretOutputs ?? []) add(read(r, key), `secret ${key} of '${r.name}'`);
  }
  return [...secrets].map(([needle, source]) => ({ needle, source }));
}

/** Every place a command's text or environment could carry a value into argv, env or logs. */
function exposedTexts(command: PolicyResource): { readonly where: string; readonly texts: string[] }[] {
  const places: { where: string; texts: string[] }[] = [];
  for (const step of ["create", "delete", "update"]) {
    const text = read(command, step);
    if (typeof text === "string") places.push({ where: `${step} text`, texts: decodedTexts(text) });
  }
  const environment = read(command, "environment");
  if (environment !== null && typeof environment === "object") {
    for (const [name, value] of Object.entries(environment as Record<string, unknown>)) {
      if (typeof value === "string") places.push({ where: `environment variable ${name}`, texts: [value] });
    }
  }
  const interpreter = read(command, "interpreter");
  if (Array.isArray(interpreter))
    places.push({ where: "interpreter", texts: interpreter.filter((i): i is string => typeof i === "string") });
  const dir = read(command, "dir");
  if (typeof dir === "string") places.push({ where: "dir", texts: [dir] });
  return places;
}

export const noSecretInCommandText: StackValidationPolicy = {
  name: "no-secret-in-command-text",
  description: "No secret (the volume passphrase, any hook's stdin) appears in a command's text, environment or arguments.",
  enforcementLevel: "mandatory",
  validateStack: (args, reportViolation) => {
    const secrets = stackSecrets(args.resources);
    if (secrets.length === 0) return;
    for (const command of args.resources.filter((r) => isCommandType(r.type))) {
      for (const { where, texts } of exposedTexts(command)) {
        const sources = new Set(secrets.filter((s) => texts.some((t) => t.includes(s.needle))).map((s) => s.source));
        for (const source of sources) {
          reportViolation(`its ${where} contains the ${source}; secrets reach hooks only on stdin`, command.urn);
        }
      }
    }
  },
};
