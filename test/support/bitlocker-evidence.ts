/**
 * A BitLocker volume written by Windows, for tests: no Linux tool writes BitLocker, so it comes from
 * dissect.fve's source distribution on PyPI (its test data, AGPL-3.0; used as test input, never
 * committed), which scripts/install-host-deps.sh fetches into the cache and pins by sha256.
 * `recovery_password.bin`: a 66 MB NTFS volume, AES-XTS 128, protected by a passphrase and by a
 * recovery password. The file holds its first 51 MB (cut after the last byte written); it is padded
 * with zeros to the volume's size, as the disk it came from was.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const BITLOCKER_SDIST = "/var/cache/forensic-lab/test-evidence/dissect_fve-4.6.tar.gz";
const MEMBER = "dissect_fve-4.6/tests/_data/bde/recovery_password.bin.gz";
/** The volume's size as its metadata states it (`cryptsetup bitlkDump`: Volume size). */
const VOLUME_BYTES = 65994752;

export interface BitLockerEvidence {
  /** The volume as a raw image: BitLocker on the whole disk (partition 0). */
  readonly path: string;
  readonly passphrase: string;
  /** The 48-digit recovery password. */
  readonly recoveryPassword: string;
}

/** Writes the volume to `<dir>/bitlocker.raw`; throws, naming the fix, when the cache lacks it. */
export function bitlockerEvidence(dir: string): BitLockerEvidence {
  if (!fs.existsSync(BITLOCKER_SDIST)) {
    throw new Error(`${BITLOCKER_SDIST} is missing: run scripts/install-host-deps.sh as root (it fetches it from PyPI)`);
  }
  const out = path.join(dir, "bitlocker.raw");
  const r = spawnSync(
    "bash",
    ["-c", 'set -o pipefail; tar -xzOf "$1" "$2" | gunzip > "$3"', "bitlocker-evidence", BITLOCKER_SDIST, MEMBER, out],
    {
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(`cannot extract ${MEMBER} from ${BITLOCKER_SDIST}: ${r.stderr}`);
  fs.truncateSync(out, VOLUME_BYTES);
  return { path: out, passphrase: "password12!@", recoveryPassword: "284867-596541-514998-422114-660297-261613-215424-199408" };
}
