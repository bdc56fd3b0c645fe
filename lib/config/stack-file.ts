import * as fs from "fs";
import * as YAML from "yaml";
import { ConfigError, parseNamespacedConfig } from "./parse";
import type { CaseConfig, ConfigIssue } from "./types";

export interface LoadStackFileOptions {
  /** Check that image files exist and are regular files. @default true */
  readonly checkFiles?: boolean;
  /** Treat a missing passphrase as an error rather than a warning. @default false (see README) */
  readonly requirePassphrase?: boolean;
}

/**
 * Reads a stack file (`stacks/Pulumi.<case>.yaml`) and validates its `forensic-lab:` config the way
 * the program will see it: top-level values as text (the engine passes them so), objects as objects,
 * `secure:` values as secrets that cannot be read here.
 */
export function loadStackFile(file: string, opts: LoadStackFileOptions = {}): CaseConfig {
  const { config, secretKeys } = readStackConfig(file);
  return parseNamespacedConfig(config, {
    file,
    secretKeys,
    requirePassphrase: opts.requirePassphrase ?? false,
    checkFiles: opts.checkFiles ?? true,
  });
}

/**
 * The `config:` mapping of a stack file as the engine would hand it over, minus decryption: top-level
 * scalars become text, and every key holding a `secure:` value (at any depth) is listed as secret.
 * Throws `ConfigError` for a file that is missing or is not a stack file.
 */
export function readStackConfig(file: string): { config: Record<string, unknown>; secretKeys: Set<string> } {
  const fail = (message: string): never => {
    throw new ConfigError(file, [{ key: "", message }]);
  };
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(
      code === "ENOENT"
        ? "no such file; give the path of a stack file such as stacks/Pulumi.<case>.yaml"
        : `cannot be read (${code ?? String(err)})`,
    );
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const at = e.linePos?.[0];
      const what = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
      return { key: "", message: `${at ? `line ${at.line}, column ${at.col}: ` : ""}not valid YAML: ${what}` };
    });
    throw new ConfigError(file, issues);
  }
  const top: unknown = doc.toJS();
  if (!isMapping(top) || !isMapping(top.config)) {
    fail("has no 'config:' mapping; a stack file looks like 'config:\\n  forensic-lab:caseId: case-42'");
  }
  const secretKeys = new Set<string>();
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((top as { config: Record<string, unknown> }).config)) {
    if (holdsSecret(value)) secretKeys.add(key);
    config[key] = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
  }
  return { config, secretKeys };
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A Pulumi secret in a stack file: `{secure: <ciphertext>}`. */
export function isSecureValue(value: unknown): value is { secure: string } {
  return isMapping(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

function holdsSecret(value: unknown): boolean {
  if (isSecureValue(value)) return true;
  if (Array.isArray(value)) return value.some(holdsSecret);
  if (isMapping(value)) return Object.values(value).some(holdsSecret);
  return false;
}
