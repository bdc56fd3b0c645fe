import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type * as pulumiType from "@pulumi/pulumi";
import { closest, unknownKeyHint } from "./did-you-mean";
import { parseLibvirtUri } from "../libvirt-uri";
import { DEFAULT_MOUNT_ROOT, DEFAULT_STATE_ROOT, KNOWN_KEYS, caseConfigSchema, type RawCaseConfig, type RawContents } from "./schema";
import type {
  CaseConfig,
  ConfigIssue,
  DeviceContents,
  EvidenceVolumeConfig,
  GuestConfig,
  ImageConfig,
  PartitionConfig,
  RaidArrayConfig,
} from "./types";

/** The config namespace: the Pulumi project name. */
export const NAMESPACE = "forensic-lab";
export const PASSPHRASE_KEY = "evidenceVolumePassphrase";
/** Short passphrases are guessable offline against a copied container, whatever the KDF. */
export const MIN_PASSPHRASE_LENGTH = 12;

const SET_PASSPHRASE = `pulumi config set --secret ${PASSPHRASE_KEY}`;

/**
 * Everything wrong with a stack's config, one issue per line: `<file>: <key>: <what and how to fix>`.
 * Thrown before any resource is registered. The Pulumi Node.js runtime prints errors that carry its
 * RunError marker without a stack trace; a config mistake is the examiner's to fix, not a crash.
 */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly warnings: ConfigIssue[];
  readonly file: string;

  constructor(file: string, issues: ConfigIssue[], warnings: ConfigIssue[] = []) {
    super(issues.map((issue) => formatIssue(file, issue)).join("\n"));
    this.name = "ConfigError";
    this.file = file;
    this.issues = issues;
    this.warnings = warnings;
    // `pulumi.RunError.isInstance` looks for this field (it works across SDK copies); set it here so
    // this module need not load the Pulumi SDK, which the CLI does not otherwise need.
    Object.defineProperty(this, "__pulumiRunError", { value: true, enumerable: false });
  }
}

/** `<file>: <key>: <message>`, or `<file>: <message>` for a problem with the file itself. */
export function formatIssue(file: string, issue: ConfigIssue): string {
  return issue.key === "" ? `${file}: ${issue.message}` : `${file}: ${issue.key}: ${issue.message}`;
}

/** `["images", 1, "path"]` -> `forensic-lab:images[1].path`. */
export function configKey(segments: readonly PropertyKey[]): string {
  let key = NAMESPACE + ":";
  segments.forEach((segment, i) => {
    if (typeof segment === "number") key += `[${segment}]`;
    else key += (i === 0 ? "" : ".") + String(segment);
  });
  return key;
}

/**
 * The guest's ssh port when the stack does not set one: 22000 + (the first 32 bits of
 * sha256(caseId), big-endian) mod 10000, so 22000..31999. Stable for a case across runs and hosts,
 * below Linux's ephemeral range (32768..60999) so outgoing connections never hold it, and different
 * for most pairs of cases (two cases collide with probability 1/10000: set `guest.sshPort` then).
 */
export function deriveSshPort(caseId: string): number {
  return 22000 + (createHash("sha256").update(caseId, "utf8").digest().readUInt32BE(0) % 10000);
}

export interface ParseSource {
  /** The stack file, as it should appear in messages (`stacks/Pulumi.case-42.yaml`). */
  readonly file: string;
  /** Keys whose value is a Pulumi secret, with or without the `forensic-lab:` prefix. */
  readonly secretKeys: ReadonlySet<string>;
  /** The program needs the passphrase (error if missing); check-config only warns. */
  readonly requirePassphrase: boolean;
  /** Check that image files exist and are regular files (off for stacks describing another machine). */
  readonly checkFiles: boolean;
}

/**
 * Validates one case's raw config (keys without the namespace; objects as YAML gives them or as JSON
 * text as the engine gives them) and resolves every default. Throws `ConfigError` listing every issue.
 */
export function parseCaseConfig(raw: Record<string, unknown>, source: ParseSource): CaseConfig {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const isSecret = (key: string) => source.secretKeys.has(key) || source.secretKeys.has(`${NAMESPACE}:${key}`);

  // Secrets are taken out before zod sees anything: no message can ever echo one. Besides the
  // passphrase, the only secrets are the volume keys the images and arrays name (their luksKeys,
  // bitlockerKeys and bitlockerStartupKeys values), each by the field that names it.
  const volumeKeyNames = namedVolumeKeys({ images: raw.images, raidArrays: raw.raidArrays });
  const input: Record<string, unknown> = {};
  const secretElsewhere = new Set<string>();
  for (const [key, value] of Object.entries(raw)) {
    if (key === PASSPHRASE_KEY || volumeKeyNames.has(key)) continue;
    if (isSecret(key) && !isOwnSetting(key)) {
      // A LUKS key left over after its image was removed (or renamed): harmless, but say so.
      warnings.push({
        key: configKey([key]),
        message: `is a secret no image or array names in its luksKeys, bitlockerKeys or bitlockerStartupKeys; remove it with \`pulumi config rm ${key}\` if nothing needs it`,
      });
      continue;
    }
    if (isSecret(key)) {
      secretElsewhere.add(key);
      issues.push({
        key: configKey([key]),
        message: `is stored as a secret, but only ${PASSPHRASE_KEY} is secret; set it in plain text (pulumi config set without --secret)`,
      });
      continue;
    }
    input[key] = value;
  }
  const passphrase = checkPassphrase(raw[PASSPHRASE_KEY], isSecret(PASSPHRASE_KEY), source.requirePassphrase, issues, warnings);

  const parsed = caseConfigSchema({ checkFiles: source.checkFiles }).safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (secretElsewhere.has(String(issue.path[0]))) continue;
      if (issue.code === "unrecognized_keys") {
        const known = knownKeysAt(issue.path);
        for (const unknown of issue.keys) {
          issues.push({ key: configKey([...issue.path, unknown]), message: `unknown key; ${unknownKeyHint(unknown, known)}` });
        }
      } else {
        issues.push({ key: configKey(issue.path), message: issue.message });
      }
    }
    throw new ConfigError(source.file, inKeyOrder(issues), warnings);
  }

  const volumeKeyValues = new Map<string, pulumiType.Output<string> | undefined>();
  for (const [name, named] of volumeKeyNames)
    volumeKeyValues.set(name, checkVolumeKey(name, named, raw[name], isSecret(name), source.requirePassphrase, issues, warnings));
  const config = resolve(parsed.data, source, issues, warnings, volumeKeyValues);
  if (issues.length > 0) throw new ConfigError(source.file, inKeyOrder(issues), warnings);
  return {
    ...config,
    evidenceVolumePassphrase: passphrase === undefined ? undefined : secretOutput(passphrase),
    warnings,
  };
}

/**
 * Picks this project's keys out of a full config map (`forensic-lab:caseId` -> `caseId`). Other
 * namespaces belong to other packages and are ignored, except near-misses of ours (`forensic_lab:`),
 * which are typos that would otherwise silently drop a setting.
 */
export function selectNamespace(full: Record<string, unknown>): { raw: Record<string, unknown>; issues: ConfigIssue[] } {
  const raw: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  for (const [fullKey, value] of Object.entries(full)) {
    const colon = fullKey.indexOf(":");
    if (colon < 0) {
      issues.push({ key: fullKey, message: `has no namespace; write '${NAMESPACE}:${fullKey}'` });
      continue;
    }
    const namespace = fullKey.slice(0, colon);
    const name = fullKey.slice(colon + 1);
    if (namespace === NAMESPACE) raw[name] = value;
    else if (closest(namespace, [NAMESPACE]) !== undefined) {
      issues.push({ key: fullKey, message: `unknown namespace '${namespace}'; did you mean '${NAMESPACE}:${name}'?` });
    }
  }
  return { raw, issues };
}

/** Issues grouped by top-level key in the documented order (stable within a key), unknown keys last. */
function inKeyOrder(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (issue: ConfigIssue) => {
    const top = /^[^:]+:([A-Za-z]+)/.exec(issue.key)?.[1] ?? "";
    const index = (KNOWN_KEYS.top as readonly string[]).indexOf(top);
    return index < 0 ? KNOWN_KEYS.top.length : index;
  };
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => rank(a.issue) - rank(b.issue) || a.i - b.i)
    .map((x) => x.issue);
}

/** Whether `key` is one of the lab's own top-level settings (which no LUKS key may be named after). */
function isOwnSetting(key: string): boolean {
  return (KNOWN_KEYS.top as readonly string[]).includes(key);
}

function knownKeysAt(at: readonly PropertyKey[]): readonly string[] {
  if (at.length === 0) return KNOWN_KEYS.top;
  if (at[0] === "guest") return KNOWN_KEYS.guest;
  if (at[0] === "evidenceVolume") return KNOWN_KEYS.evidenceVolume;
  if (at[0] === "images") return at.length >= 4 ? KNOWN_KEYS.partition : KNOWN_KEYS.image;
  if (at[0] === "raidArrays") return KNOWN_KEYS.raidArray;
  return [];
}

/** The passphrase, checked without ever putting it into a message. */
function checkPassphrase(
  value: unknown,
  secret: boolean,
  required: boolean,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): string | undefined {
  const key = configKey([PASSPHRASE_KEY]);
  if (value === undefined || value === null) {
    if (required) {
      issues.push({ key, message: `is not set; set it with \`${SET_PASSPHRASE}\` (pipe it on stdin, not as an argument)` });
    } else {
      // Stack files are committed before anyone runs `pulumi config set --secret`; only the program insists.
      warnings.push({ key, message: `is not set yet; set it with \`${SET_PASSPHRASE}\` before \`pulumi up\`` });
    }
    return undefined;
  }
  if (!secret) {
    issues.push({
      key,
      message: `is in plain text; remove it from the stack file and set it with \`${SET_PASSPHRASE}\` (pipe it on stdin)`,
    });
    return undefined;
  }
  if (typeof value !== "string") {
    // A `secure:` value in a stack file: encrypted, and only the Pulumi engine can decrypt it.
    if (required) {
      issues.push({ key, message: "is encrypted in the stack file; only a Pulumi program run by the engine can read it" });
    }
    return undefined;
  }
  if (value.length < MIN_PASSPHRASE_LENGTH) {
    issues.push({ key, message: `is shorter than ${MIN_PASSPHRASE_LENGTH} characters; set a longer one with \`${SET_PASSPHRASE}\`` });
    return undefined;
  }
  if (/[\0\r\n]/.test(value)) {
    issues.push({ key, message: `must be one line (it contains a line break or NUL byte); set it again with \`${SET_PASSPHRASE}\`` });
    return undefined;
  }
  return value;
}

/** The Pulumi SDK is loaded only when there is a decrypted passphrase to wrap: inside a program. */
function secretOutput(value: string): pulumiType.Output<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, see above
  const pulumi = require("@pulumi/pulumi") as typeof pulumiType;
  return pulumi.secret(value);
}

type Resolved = Omit<CaseConfig, "evidenceVolumePassphrase" | "warnings">;

/** The fields of an image that name secret config keys, with the kind of volume each key opens. */
const VOLUME_KEY_FIELDS = { luksKeys: "LUKS", bitlockerKeys: "BitLocker", bitlockerStartupKeys: "BitLocker startup" } as const;
type VolumeKeyField = keyof typeof VOLUME_KEY_FIELDS;

/** A secret config key a volume key field names: the field, and where (`images[].luksKeys`) for messages. */
interface NamedKey {
  readonly field: VolumeKeyField;
  readonly where: string;
}

/**
 * The config key names the `luksKeys`, `bitlockerKeys` and `bitlockerStartupKeys` of images and arrays
 * refer to, each with the field that names it first, read before validation (so they stay out of zod).
 */
function namedVolumeKeys(lists: Record<"images" | "raidArrays", unknown>): Map<string, NamedKey> {
  const names = new Map<string, NamedKey>();
  for (const [listName, value] of Object.entries(lists)) {
    let list = value;
    if (typeof list === "string") {
      // The engine hands objects to a program as JSON text; the schema parses it again later.
      try {
        list = JSON.parse(list);
      } catch {
        continue;
      }
    }
    if (!Array.isArray(list)) continue;
    for (const entry of list) {
      for (const field of Object.keys(VOLUME_KEY_FIELDS) as VolumeKeyField[]) {
        const keys = (entry as Record<string, unknown> | null)?.[field];
        if (keys === null || typeof keys !== "object" || Array.isArray(keys)) continue;
        for (const name of Object.values(keys)) {
          if (typeof name === "string" && name !== PASSPHRASE_KEY && !isOwnSetting(name) && !names.has(name))
            names.set(name, { field, where: `${listName}[].${field}` });
        }
      }
    }
  }
  return names;
}

/** One volume key, checked like the passphrase and never put into a message. */
function checkVolumeKey(
  name: string,
  { field, where }: NamedKey,
  value: unknown,
  secret: boolean,
  required: boolean,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): pulumiType.Output<string> | undefined {
  const key = configKey([name]);
  const set = `pulumi config set --secret ${name}`;
  if (value === undefined || value === null) {
    (required ? issues : warnings).push({
      key,
      message: `is named in ${where} but not set; set it with \`${set}\` (pipe it on stdin, not as an argument)`,
    });
    return undefined;
  }
  if (!secret) {
    issues.push({
      key,
      message: `is a ${VOLUME_KEY_FIELDS[field]} key in plain text; remove it from the stack file and set it with \`${set}\``,
    });
    return undefined;
  }
  if (typeof value !== "string") {
    if (required) issues.push({ key, message: "is encrypted in the stack file; only a Pulumi program run by the engine can read it" });
    return undefined;
  }
  if (value.length === 0) {
    issues.push({ key, message: `is empty; set the volume's passphrase with \`${set}\`` });
    return undefined;
  }
  if (field === "bitlockerStartupKeys") {
    const problem = startupKeyProblem(value);
    if (problem) {
      issues.push({ key, message: `${problem}; set it with \`base64 -w0 <the .BEK file> | ${set}\`` });
      return undefined;
    }
  }
  return secretOutput(value);
}

/**
 * Why a secret is not a BitLocker startup key file (.BEK) in base64, or `undefined`. A .BEK is a small
 * FVE metadata block: its first 32-bit word is its own length, its second the version 1. Never names
 * the value.
 */
function startupKeyProblem(value: string): string | undefined {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0) return "is not base64 (of a BitLocker startup key file, .BEK)";
  const bek = Buffer.from(text, "base64");
  if (bek.length < 48 || bek.length > 65536 || bek.readUInt32LE(0) !== bek.length || bek.readUInt32LE(4) !== 1)
    return "does not decode to a BitLocker startup key file (.BEK: its length at the start, version 1)";
  return undefined;
}

function resolve(
  raw: RawCaseConfig,
  source: ParseSource,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
  volumeKeyValues: ReadonlyMap<string, pulumiType.Output<string> | undefined>,
): Resolved {
  const parsedUri = parseLibvirtUri(raw.libvirtUri);
  if ("problem" in parsedUri) throw new Error(`unreachable: libvirtUri passed the schema: ${parsedUri.problem}`);
  const stateDir = raw.stateDir ?? `${DEFAULT_STATE_ROOT}/${raw.caseId}`;

  const { sshPort, isolatedNetwork, network, ...guestRest } = raw.guest;
  const guestBase = {
    ...guestRest,
    sshPort: sshPort ?? deriveSshPort(raw.caseId),
    sshPortSource: sshPort === undefined ? ("derived" as const) : ("configured" as const),
  };
  const guest: GuestConfig =
    network === "libvirt-isolated" ? { ...guestBase, network, isolatedNetwork: isolatedNetwork as string } : { ...guestBase, network };

  const { backend, path: volumePath, volumeGroup, ...volumeRest } = raw.evidenceVolume;
  const evidenceVolume: EvidenceVolumeConfig =
    backend === "lvm"
      ? { ...volumeRest, backend, volumeGroup: volumeGroup as string }
      : { ...volumeRest, backend, path: volumePath ?? `${stateDir}/evidence.luks` };

  /** The contents of an image or array (`at`: its key path), every default mount point under `mountRoot`. */
  const contentsOf = (entry: RawContents, at: (string | number)[], mountRoot: string): DeviceContents => {
    const partitions: DeviceContents["partitions"] =
      entry.partitions === undefined
        ? "all"
        : entry.partitions.map((spec): PartitionConfig =>
            spec.logicalVolume !== undefined
              ? {
                  logicalVolume: spec.logicalVolume,
                  mountPoint: spec.mountPoint ?? `${mountRoot}/lvm/${spec.logicalVolume}`,
                  options: spec.options ?? [],
                }
              : { number: spec.number, mountPoint: spec.mountPoint ?? `${mountRoot}/p${spec.number}`, options: spec.options ?? [] },
          );
    const keysOf = (field: VolumeKeyField) =>
      Object.entries(entry[field] ?? {}).map(([where, name]) => {
        if (!volumeKeyValues.has(name)) {
          issues.push({
            key: configKey([...at, field, where]),
            message: `'${name}' is one of the lab's own settings; name a config key of its own for this volume's passphrase`,
          });
        }
        return { at: /^[0-9]+$/.test(where) ? Number(where) : where, configKey: name, key: volumeKeyValues.get(name) };
      });
    // The schema let only partition numbers through for BitLocker.
    const bitlockerKeys = [
      ...keysOf("bitlockerKeys").map((k) => ({ ...k, at: Number(k.at), kind: "password" as const })),
      ...keysOf("bitlockerStartupKeys").map((k) => ({ ...k, at: Number(k.at), kind: "startupKey" as const })),
    ];
    return { mountRoot, partitions, luksKeys: keysOf("luksKeys"), bitlockerKeys };
  };

  const images: ImageConfig[] = raw.images.map((image, i) => ({
    name: image.name,
    path: image.path,
    format: image.format,
    transfer: image.transfer,
    ...contentsOf(image, ["images", i], `${DEFAULT_MOUNT_ROOT}/${image.name}`),
    roots: image.roots ?? [],
  }));

  const raidArrays: RaidArrayConfig[] = (raw.raidArrays ?? []).map((array, i) => ({
    name: array.name,
    members: array.members.map((member, j) => {
      const [image, partition] = member.split(":");
      const at = images.findIndex((im) => im.name === image);
      const listed =
        at < 0 || images[at].partitions === "all" ? -1 : images[at].partitions.findIndex((p) => p.number === Number(partition));
      if (at < 0) {
        issues.push({
          key: configKey(["raidArrays", i, "members", j]),
          message: `names image '${image}', which is not in images (${images.map((im) => `'${im.name}'`).join(", ")})`,
        });
      } else if (listed >= 0) {
        // An array member holds no filesystem of its own: its mount would fail in the guest, after the lab is built.
        issues.push({
          key: configKey(["raidArrays", i, "members", j]),
          message: `'${member}' is also images[${at}].partitions[${listed}]; an array member holds no filesystem of its own: list it in one place only`,
        });
      }
      return { image, partition: Number(partition) };
    }),
    ...contentsOf(array, ["raidArrays", i], `${DEFAULT_MOUNT_ROOT}/arrays/${array.name}`),
  }));

  checkMountPoints(raw, images, raidArrays, issues);

  if (evidenceVolume.backend === "file") {
    const clash = images.findIndex((image) => image.path === evidenceVolume.path);
    if (clash >= 0) {
      issues.push({
        key: configKey(["evidenceVolume", "path"]),
        message: `is the image file of images[${clash}] ('${evidenceVolume.path}'); destroy would erase it, choose another path`,
      });
    }
  }

  if (evidenceVolume.fastKdfForTestsOnly) {
    warnings.push({
      key: configKey(["evidenceVolume", "fastKdfForTestsOnly"]),
      message: "is true: the LUKS key derivation is weakened for tests; never use this for a real case",
    });
  }
  const stackName = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(source.file))?.[1];
  if (stackName !== undefined && stackName !== raw.caseId) {
    warnings.push({
      key: configKey(["caseId"]),
      message: `'${raw.caseId}' differs from the stack name '${stackName}'; name each stack after its case (one stack, one case)`,
    });
  }
  if (source.checkFiles && parsedUri.target.kind === "local" && !fs.existsSync(guest.imageDir)) {
    warnings.push({
      key: configKey(["guest", "imageDir"]),
      message: `'${guest.imageDir}' does not exist yet; build the guest image with guest-image/build.sh`,
    });
  }

  return {
    caseId: raw.caseId,
    examiner: raw.examiner,
    libvirtUri: raw.libvirtUri,
    libvirtHost: parsedUri.target,
    stateDir,
    guest,
    evidenceVolume,
    images,
    raidArrays,
  };
}

interface MountClaim {
  /** A mount point, or for `partitions: all` the folder all of that image's mount points lie under. */
  readonly point: string;
  readonly key: string;
  readonly owner: string;
}

/** Two mounts may neither share a folder nor nest: one would hide the other, or block its unmount. */
function checkMountPoints(
  raw: RawCaseConfig,
  images: readonly ImageConfig[],
  raidArrays: readonly RaidArrayConfig[],
  issues: ConfigIssue[],
): void {
  const claims: MountClaim[] = [];
  const claim = (list: "images" | "raidArrays", entries: readonly DeviceContents[]) =>
    entries.forEach((entry, i) => {
      const owner = list === "images" ? `images[${i}]` : `md array raidArrays[${i}]`;
      if (entry.partitions === "all") {
        claims.push({
          point: entry.mountRoot,
          key: configKey([list, i, "partitions"]),
          owner: `the partitions of ${owner} (all, under '${entry.mountRoot}')`,
        });
        return;
      }
      const specs = raw[list]?.[i]?.partitions;
      entry.partitions.forEach((partition, j) => {
        const explicit = specs?.[j]?.mountPoint !== undefined;
        claims.push({
          point: partition.mountPoint,
          key: configKey([list, i, "partitions", j, ...(explicit ? ["mountPoint"] : [])]),
          owner: `${owner} ${partition.logicalVolume === undefined ? `partition ${partition.number}` : `logical volume ${partition.logicalVolume}`}`,
        });
      });
    });
  claim("images", images);
  claim("raidArrays", raidArrays);

  const inside = (inner: string, outer: string) => inner.startsWith(`${outer}/`);
  claims.forEach((claim, b) => {
    for (const earlier of claims.slice(0, b)) {
      let message: string | undefined;
      if (claim.point === earlier.point) {
        message = `'${claim.point}' is also the mount point of ${earlier.owner}; every partition needs its own mount point`;
      } else if (inside(claim.point, earlier.point)) {
        message = `'${claim.point}' lies inside '${earlier.point}' (${earlier.owner}); mount points must not nest`;
      } else if (inside(earlier.point, claim.point)) {
        message = `'${claim.point}' contains '${earlier.point}' (${earlier.owner}); mount points must not nest`;
      }
      if (message !== undefined) {
        issues.push({ key: claim.key, message });
        break;
      }
    }
  });
}

/**
 * `parseCaseConfig` over a full config map (`forensic-lab:caseId`, `pulumi:...`), as the engine and
 * stack files hold it; namespace mistakes are reported together with everything else.
 */
export function parseNamespacedConfig(full: Record<string, unknown>, source: ParseSource): CaseConfig {
  const { raw, issues: prior } = selectNamespace(full);
  let config: CaseConfig;
  try {
    config = parseCaseConfig(raw, source);
  } catch (err) {
    if (err instanceof ConfigError && prior.length > 0) {
      throw new ConfigError(source.file, [...prior, ...err.issues], err.warnings);
    }
    throw err;
  }
  if (prior.length > 0) throw new ConfigError(source.file, prior, [...config.warnings]);
  return config;
}
