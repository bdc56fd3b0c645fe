/**
 * A BitLocker volume for tests. No Linux tool writes BitLocker, so its metadata comes from a volume
 * Windows wrote: `recovery_password.bin` from dissect.fve's source distribution on PyPI (its test data,
 * AGPL-3.0; test input only, never committed), which scripts/install-host-deps.sh fetches into the cache
 * and pins by sha256. That volume (66 MB, AES-XTS 128, a passphrase and a recovery password) was cut
 * down to the sectors dissect.fve's own tests read: its NTFS decrypts to a boot sector and noise, and
 * nothing mounts it.
 *
 * So its content is replaced, and its metadata kept as Windows wrote it: an NTFS made here (mkntfs,
 * files put in with ntfscp: nothing is mounted on the host) is encrypted sector by sector with the
 * volume's own key, as BitLocker does (AES-XTS, the tweak the sector's number on the volume; the first
 * sectors, which hold the BitLocker boot sector, stored at the "Volume header" segment). The key comes
 * from the volume with the passphrase (`cryptsetup bitlkDump --dump-volume-key`), so the passphrase and
 * the recovery password open the result exactly as they opened the original. The NTFS ends before the
 * first metadata segment, so no file lies where BitLocker keeps its metadata. Checked once against
 * dissect.fve's own decryption (byte for byte) when this was written; the guest test checks it against
 * cryptsetup's. `startup_key.bin` (AES-XTS 128, a startup key file and a passphrase) is made the same way,
 * its key dumped with its .BEK, which the tests then open it with.
 */
import { spawnSync } from "child_process";
import { createCipheriv, createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";

export const BITLOCKER_SDIST = "/var/cache/forensic-lab/test-evidence/dissect_fve-4.6.tar.gz";
const DATA = "dissect_fve-4.6/tests/_data/bde";
const MEMBER = `${DATA}/recovery_password.bin.gz`;
/** A volume (AES-XTS 256) protected by a startup key file, and that file (.BEK). */
const STARTUP_KEY_MEMBER = `${DATA}/startup_key.bin.gz`;
const STARTUP_KEY_FILE = `${DATA}/startup_key.bek`;
const PASSPHRASE = "password12!@";
const RECOVERY_PASSWORD = "284867-596541-514998-422114-660297-261613-215424-199408";
const SECTOR = 512;
/** The NTFS inside: 32 MiB, ending before the volume's first metadata segment (checked). */
const NTFS_BYTES = 32 * 1024 * 1024;

export interface BitLockerEvidence {
  /** The volume as a raw image: BitLocker on the whole disk (partition 0). */
  readonly path: string;
  readonly passphrase: string;
  /** The 48-digit recovery password. */
  readonly recoveryPassword: string;
  /** Files in the NTFS root and their sha256. */
  readonly files: Readonly<Record<string, string>>;
}

/** What `cryptsetup bitlkDump` says of the volume: the sizes and segments the encryption needs. */
interface BitlkLayout {
  readonly volumeBytes: number;
  readonly cipher: string;
  readonly headerOffset: number;
  readonly headerBytes: number;
  readonly firstMetadataOffset: number;
}

/** Writes the volume to `<dir>/bitlocker.raw`; throws, naming the fix, when the cache lacks it. */
export function bitlockerEvidence(dir: string): BitLockerEvidence {
  const out = path.join(dir, "bitlocker.raw");
  const files = withNewContent(out, MEMBER, Buffer.from(PASSPHRASE), dir);
  return { path: out, passphrase: PASSPHRASE, recoveryPassword: RECOVERY_PASSWORD, files };
}

export interface StartupKeyEvidence {
  /** The volume as a raw image: BitLocker on the whole disk, opened by a startup key (or a passphrase no test knows). */
  readonly path: string;
  /** The startup key file (.BEK) Windows wrote for it, as bytes. */
  readonly startupKey: Buffer;
  readonly files: Readonly<Record<string, string>>;
}

/** The same for a volume protected by a startup key file: `<dir>/bitlocker-bek.raw` and its .BEK. */
export function bitlockerStartupKeyEvidence(dir: string): StartupKeyEvidence {
  const out = path.join(dir, "bitlocker-bek.raw");
  extract(STARTUP_KEY_FILE, `${out}.bek`);
  const startupKey = fs.readFileSync(`${out}.bek`);
  fs.rmSync(`${out}.bek`);
  const files = withNewContent(out, STARTUP_KEY_MEMBER, startupKey, dir);
  return { path: out, startupKey, files };
}

/** Writes `member` of the sdist (gunzipped if it ends in .gz) to `out`. */
function extract(member: string, out: string): void {
  if (!fs.existsSync(BITLOCKER_SDIST)) {
    throw new Error(`${BITLOCKER_SDIST} is missing: run scripts/install-host-deps.sh as root (it fetches it from PyPI)`);
  }
  const unpack = member.endsWith(".gz") ? " | gunzip" : "";
  run("bash", ["-c", `set -o pipefail; tar -xzOf "$1" "$2"${unpack} > "$3"`, "bitlocker-evidence", BITLOCKER_SDIST, member, out]);
}

/**
 * Extracts `member` to `out` and replaces its content with a fresh NTFS encrypted with the volume's own
 * key (dumped with `key`, a passphrase or a startup key file); returns the NTFS's files and their sha256.
 */
function withNewContent(out: string, member: string, key: Buffer, scratch: string): Record<string, string> {
  extract(member, out);
  const layout = bitlkLayout(run("cryptsetup", ["bitlkDump", out]));
  if (!/^aes xts-plain64 (256|512)$/.test(layout.cipher))
    throw new Error(`${member}: cipher '${layout.cipher}', expected AES-XTS (aes xts-plain64 256 or 512)`);
  if (NTFS_BYTES > layout.firstMetadataOffset)
    throw new Error(`${member}: the NTFS would reach the metadata at ${layout.firstMetadataOffset}`);
  // The file ends after the last sector dissect.fve's tests read; the disk it came from was the volume's size.
  fs.truncateSync(out, layout.volumeBytes);
  const volume = volumeKey(run("cryptsetup", ["bitlkDump", "--dump-volume-key", "--batch-mode", "--key-file=-", out], key));

  const ntfs = path.join(scratch, `${path.basename(out)}-content.ntfs`);
  const files = makeNtfs(ntfs, scratch);
  encryptInto(out, fs.readFileSync(ntfs), volume, layout);
  fs.rmSync(ntfs);
  return files;
}

/** An NTFS of NTFS_BYTES in `file` holding two files (one spanning many sectors); returns their sha256. */
function makeNtfs(file: string, scratch: string): Record<string, string> {
  fs.writeFileSync(file, "");
  fs.truncateSync(file, NTFS_BYTES);
  // -T fakes the clock, which also seeds the serial number and GUIDs: the same volume every time.
  run("mkntfs", ["-F", "-Q", "-T", "-q", "-s", "512", "-c", "4096", "-p", "0", "-H", "255", "-S", "63", "-L", "BITLOCKED", file]);
  const contents: Record<string, Buffer> = {
    "report.txt": Buffer.from("quarterly figures, encrypted by BitLocker\n"),
    // Numbered 32-byte lines: a sector decrypted with the wrong key or tweak shows up in the sha256.
    "bulk.bin": Buffer.from(Array.from({ length: 65536 }, (_, i) => `bitlocker bulk ${String(i).padStart(15, "0")}\n`).join("")),
  };
  const sha256: Record<string, string> = {};
  for (const [name, data] of Object.entries(contents)) {
    const source = path.join(scratch, name);
    fs.writeFileSync(source, data);
    run("ntfscp", ["-q", file, source, name]);
    fs.rmSync(source);
    sha256[name] = createHash("sha256").update(data).digest("hex");
  }
  return sha256;
}

/**
 * Writes `plain` over the volume as BitLocker encrypts it: AES-XTS per 512-byte sector, the tweak that
 * sector's number where it is stored; the first sectors (the volume header's size) are stored at the
 * volume header segment.
 */
function encryptInto(volume: string, plain: Buffer, key: Buffer, layout: BitlkLayout): void {
  const fd = fs.openSync(volume, "r+");
  try {
    const headerSectors = layout.headerBytes / SECTOR;
    for (let sector = 0; sector < plain.length / SECTOR; sector++) {
      const stored = sector < headerSectors ? layout.headerOffset / SECTOR + sector : sector;
      const tweak = Buffer.alloc(16);
      tweak.writeBigUInt64LE(BigInt(stored));
      const cipher = createCipheriv(key.length === 32 ? "aes-128-xts" : "aes-256-xts", key, tweak);
      const data = Buffer.concat([cipher.update(plain.subarray(sector * SECTOR, (sector + 1) * SECTOR)), cipher.final()]);
      fs.writeSync(fd, data, 0, SECTOR, stored * SECTOR);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function bitlkLayout(dump: string): BitlkLayout {
  const field = (re: RegExp, what: string): string => {
    const m = re.exec(dump);
    if (!m) throw new Error(`cryptsetup bitlkDump printed no ${what}:\n${dump}`);
    return m[1];
  };
  const metadata = [...dump.matchAll(/FVE metadata area\s+Offset:\s+(\d+) \[bytes\]/g)].map((m) => Number(m[1]));
  if (metadata.length === 0) throw new Error(`cryptsetup bitlkDump printed no metadata segment:\n${dump}`);
  return {
    volumeBytes: Number(field(/Volume size:\s+(\d+) \[bytes\]/, "volume size")),
    cipher: `${field(/Cipher name:\s+(\S+)/, "cipher")} ${field(/Cipher mode:\s+(\S+)/, "cipher mode")} ${field(/Cipher key:\s+(\d+) bits/, "key size")}`,
    headerOffset: Number(field(/Volume header\s+Offset:\s+(\d+) \[bytes\]/, "volume header offset")),
    headerBytes: Number(field(/Volume header\s+Offset:\s+\d+ \[bytes\]\s+Size:\s+(\d+) \[bytes\]/, "volume header size")),
    firstMetadataOffset: Math.min(...metadata),
  };
}

/** The key `bitlkDump --dump-volume-key` prints as hex pairs after "MK dump:", over several lines. */
function volumeKey(dump: string): Buffer {
  const at = dump.indexOf("MK dump:");
  if (at < 0) throw new Error("cryptsetup bitlkDump --dump-volume-key printed no key");
  const hex = dump.slice(at + "MK dump:".length).replace(/\s+/g, "");
  if (!/^([0-9a-f]{64}|[0-9a-f]{128})$/.test(hex))
    throw new Error(`cryptsetup bitlkDump --dump-volume-key printed a key that is not 32 or 64 bytes`);
  return Buffer.from(hex, "hex");
}

function run(program: string, args: string[], input?: string | Buffer): string {
  const r = spawnSync(program, args, { encoding: "utf8", input, maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${program} ${args[0]}: exit ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}
