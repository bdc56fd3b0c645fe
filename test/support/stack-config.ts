/**
 * Turns a stack file into what the Pulumi engine hands a program, for tests under `setupMocks`
 * (`test/mocks.ts`): `PULUMI_CONFIG`'s map (`forensic-lab:key` -> text, objects JSON-encoded) and the
 * list of secret keys. The engine would decrypt `secure:` values; tests have no key, so each one is
 * replaced by a test passphrase (or what the test supplies).
 *
 *   const engine = engineConfigFromStackFile("stacks/Pulumi.case-ci.yaml");
 *   const run = await setupMocks({ ...engine, config: { ...engine.config, "forensic-lab:guest": "{}" } });
 */
import * as path from "path";
import { NAMESPACE, PASSPHRASE_KEY } from "../../lib/config/parse";
import { isSecureValue, readStackConfig } from "../../lib/config/stack-file";

/** Long enough for the passphrase rules; obviously not a real one. */
export const TEST_PASSPHRASE = "forensic-lab test passphrase, not for real cases";

export interface EngineConfig {
  /** The stack's name, from `Pulumi.<stack>.yaml`: pass it to `setupMocks` so messages name the file. */
  readonly stack: string;
  readonly project: string;
  /** Full key -> the text the engine gives a program. */
  readonly config: Record<string, string>;
  /** Full keys whose values are secrets. */
  readonly secretKeys: string[];
}

export interface EngineConfigOptions {
  /**
   * The decrypted value of every `secure:` value; and with `setPassphrase`, the passphrase a stack
   * file leaves to `pulumi config set --secret`. @default TEST_PASSPHRASE
   */
  readonly secretValue?: string;
  /**
   * Add `forensic-lab:evidenceVolumePassphrase` as a secret when the file has none, as the demo and CI
   * scripts do before `pulumi up`. @default true
   */
  readonly setPassphrase?: boolean;
}

export function engineConfigFromStackFile(file: string, opts: EngineConfigOptions = {}): EngineConfig {
  const secret = opts.secretValue ?? TEST_PASSPHRASE;
  const { config: stackConfig, secretKeys } = readStackConfig(file);
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(stackConfig)) {
    config[key] = engineText(decrypt(value, secret));
  }
  const passphraseKey = `${NAMESPACE}:${PASSPHRASE_KEY}`;
  if ((opts.setPassphrase ?? true) && !(passphraseKey in config)) {
    config[passphraseKey] = secret;
    secretKeys.add(passphraseKey);
    // The LUKS keys the images name, set as secrets too (the CI run sets them from volumes.json).
    const images = stackConfig[`${NAMESPACE}:images`];
    for (const image of Array.isArray(images) ? images : []) {
      for (const name of Object.values((image as { luksKeys?: Record<string, string> }).luksKeys ?? {})) {
        const key = `${NAMESPACE}:${name}`;
        if (!(key in config)) {
          config[key] = secret;
          secretKeys.add(key);
        }
      }
    }
  }
  const stack = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1];
  if (stack === undefined) throw new Error(`${file}: not named Pulumi.<stack>.yaml`);
  return { stack, project: NAMESPACE, config, secretKeys: [...secretKeys] };
}

/** What `pulumi config set` + the engine do to a value: scalars as text, objects and lists as JSON. */
function engineText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

function decrypt(value: unknown, secret: string): unknown {
  if (isSecureValue(value)) return secret;
  if (Array.isArray(value)) return value.map((v) => decrypt(v, secret));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decrypt(v, secret)]));
  }
  return value;
}
