/**
 * Pulumi's wire encoding of property values, as the SDK sends inputs to the engine and the engine keeps
 * them in a checkpoint. The only special value this engine handles is a secret: an object
 * `{ <sig>: <secret sig>, value }` in memory, `{ <sig>: <secret sig>, ciphertext }` in a saved state
 * (the same shape `pulumi stack export` shows).
 */
import * as crypto from "crypto";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type WireMap = Record<string, Json>;

interface SecretValue {
  [specialSigKey]: typeof specialSecretSig;
  value: Json;
}
interface SealedSecret {
  [specialSigKey]: typeof specialSecretSig;
  ciphertext: string;
}

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSecretMarker(v: Json | undefined): v is { [key: string]: Json } {
  return isObject(v) && v[specialSigKey] === specialSecretSig;
}

export function secretValue(value: Json): Json {
  return { [specialSigKey]: specialSecretSig, value } satisfies SecretValue;
}

/** The value with every secret wrapper removed: what a provider (and a hook) actually receives. */
export function reveal(value: Json): Json {
  if (isSecretMarker(value)) {
    if (!("value" in value)) throw new Error("a sealed secret cannot be revealed without unsealing the state first");
    return reveal(value.value);
  }
  if (Array.isArray(value)) return value.map(reveal);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  return value;
}

export function revealMap(map: WireMap): Record<string, unknown> {
  return reveal(map) as Record<string, unknown>;
}

export function containsSecret(value: Json | undefined): boolean {
  if (isSecretMarker(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecret);
  if (isObject(value)) return Object.values(value).some(containsSecret);
  return false;
}

/** Unknowns only appear in previews; a value the engine must act on has to be known. */
export function assertKnown(value: Json | undefined, where: string): void {
  if (value === unknownValue) throw new Error(`${where}: value is unknown (computed); the e2e engine never previews`);
  if (Array.isArray(value)) value.forEach((v, i) => assertKnown(v, `${where}[${i}]`));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) assertKnown(v, `${where}.${k}`);
}

/**
 * Encrypts secrets the way Pulumi's passphrase secrets provider does in spirit: AES-256-GCM with a key
 * derived from the passphrase and a per-stack salt; a known plaintext sealed once (`check`) tells a
 * wrong passphrase apart from a corrupt state.
 */
export interface SecretsProviderState {
  readonly type: "passphrase";
  readonly salt: string;
  readonly check: string;
}

const CHECK_PLAINTEXT = "forensic-lab e2e engine";

export class Sealer {
  private constructor(
    private readonly key: Buffer,
    readonly state: SecretsProviderState,
  ) {}

  static create(passphrase: string): Sealer {
    const salt = crypto.randomBytes(16).toString("base64");
    const key = deriveKey(passphrase, salt);
    return new Sealer(key, { type: "passphrase", salt, check: encrypt(key, CHECK_PLAINTEXT) });
  }

  /** Opens a saved state's secrets provider; throws a clear error for a wrong passphrase. */
  static open(passphrase: string, state: SecretsProviderState, where: string): Sealer {
    if (state?.type !== "passphrase" || typeof state.salt !== "string" || typeof state.check !== "string") {
      throw new Error(`${where}: state has no usable secrets provider (expected {type: "passphrase", salt, check})`);
    }
    const key = deriveKey(passphrase, state.salt);
    let check: string;
    try {
      check = decrypt(key, state.check);
    } catch {
      throw new Error(`${where}: wrong secrets passphrase for this state (set secretsPassphrase or PULUMI_CONFIG_PASSPHRASE)`);
    }
    if (check !== CHECK_PLAINTEXT) throw new Error(`${where}: secrets provider check value is corrupt`);
    return new Sealer(key, state);
  }

  /** Replaces every in-memory secret by its ciphertext. */
  seal(value: Json): Json {
    if (isSecretMarker(value)) {
      return { [specialSigKey]: specialSecretSig, ciphertext: encrypt(this.key, JSON.stringify(reveal(value))) } satisfies SealedSecret;
    }
    if (Array.isArray(value)) return value.map((v) => this.seal(v));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.seal(v)]));
    return value;
  }

  /** The inverse of `seal`: ciphertexts back to in-memory secrets. */
  unseal(value: Json): Json {
    if (isSecretMarker(value)) {
      if (typeof value.ciphertext === "string") return secretValue(JSON.parse(decrypt(this.key, value.ciphertext)) as Json);
      return value;
    }
    if (Array.isArray(value)) return value.map((v) => this.unseal(v));
    if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.unseal(v)]));
    return value;
  }

  sealMap(map: WireMap): WireMap {
    return this.seal(map) as WireMap;
  }

  unsealMap(map: WireMap): WireMap {
    return this.unseal(map) as WireMap;
  }
}

function deriveKey(passphrase: string, salt: string): Buffer {
  return crypto.scryptSync(passphrase, Buffer.from(salt, "base64"), 32, { N: 1 << 14, r: 8, p: 1 });
}

function encrypt(key: Buffer, plaintext: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `v1:${iv.toString("base64")}:${body.toString("base64")}`;
}

function decrypt(key: Buffer, sealed: string): string {
  const [version, iv, body] = sealed.split(":");
  if (version !== "v1" || !iv || !body) throw new Error("unknown ciphertext format");
  const bytes = Buffer.from(body, "base64");
  const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString("utf8");
}
