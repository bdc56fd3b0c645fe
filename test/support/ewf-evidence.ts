/**
 * EWF test evidence, made here without mounting anything: a 40 MiB raw disk with an MBR, an ext4
 * partition (made by `mkfs.ext4 -d` from a folder: `ufos/ufo.txt` and 8 MiB of random data, so the set
 * does not compress away) and a FAT partition (`mkfs.vfat`, `mcopy`), acquired by libewf's ewfacquire
 * into `<dir>/<name>.E01 ...` with 2 MiB segments (several of them). The raw disk is deleted: only
 * the segment set is evidence. Its md5/sha1 are what the set stores.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const MIB = 1 << 20;

export const EWF_UFO_TEXT = "Not every UFO is a weather balloon.\n";
export const EWF_FAT_TEXT = "a note on the FAT partition\n";

export interface EwfEvidence {
  /** The first segment: what `images[].path` names. */
  readonly first: string;
  /** Every segment, first to last. */
  readonly segments: readonly string[];
  readonly mediaSize: number;
  readonly md5: string;
  readonly sha1: string;
  /** The partition table: MBR type, start and size in 512-byte sectors. */
  readonly partitions: readonly { number: number; type: string; startSector: number; sizeSectors: number }[];
}

function sh(program: string, args: readonly string[]): string {
  return execFileSync(program, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

export function makeEwfEvidence(dir: string, name = "disk"): EwfEvidence {
  fs.mkdirSync(dir, { recursive: true });
  // A plain scratch folder, not under `dir`: mtools hands a file name holding shell characters to
  // /bin/sh to expand it, and callers choose hostile folder names on purpose.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-ewf-making-"));
  try {
    const tree = path.join(work, "tree");
    fs.mkdirSync(path.join(tree, "ufos"), { recursive: true });
    fs.writeFileSync(path.join(tree, "ufos", "ufo.txt"), EWF_UFO_TEXT);
    fs.writeFileSync(path.join(tree, "random.bin"), crypto.randomBytes(8 * MIB));

    const ext4 = path.join(work, "p1.ext4");
    const fat = path.join(work, "p2.fat");
    const note = path.join(work, "note.txt");
    sh("truncate", ["-s", "24M", ext4]);
    sh("mkfs.ext4", ["-q", "-F", "-L", "ewf-ext4", "-d", tree, ext4]);
    sh("truncate", ["-s", "12M", fat]);
    sh("mkfs.vfat", ["-n", "EWFFAT", fat]);
    fs.writeFileSync(note, EWF_FAT_TEXT);
    sh("mcopy", ["-i", fat, note, "::/NOTE.TXT"]);

    // 1 MiB gap, p1 24 MiB ext4 (83), p2 12 MiB FAT16 (6), 3 MiB at the end: 40 MiB.
    const partitions = [
      { number: 1, type: "83", startSector: 2048, sizeSectors: 24 * 2048 },
      { number: 2, type: "6", startSector: 2048 + 24 * 2048, sizeSectors: 12 * 2048 },
    ];
    const raw = path.join(work, "disk.raw");
    sh("truncate", ["-s", "40M", raw]);
    execFileSync("sfdisk", ["-q", raw], {
      input: `label: dos\n${partitions.map((p) => `start=${p.startSector}, size=${p.sizeSectors}, type=${p.type}`).join("\n")}\n`,
    });
    for (const [file, p] of [
      [ext4, partitions[0]],
      [fat, partitions[1]],
    ] as const) {
      sh("dd", [`if=${file}`, `of=${raw}`, "bs=512", `seek=${p.startSector}`, "conv=notrunc,sparse", "status=none"]);
    }
    const bytes = fs.readFileSync(raw);
    const digest = (algorithm: string) => crypto.createHash(algorithm).update(bytes).digest("hex");
    // -u: unattended; -c fast: deflate, as examiners usually acquire; -S 2MiB: several segments.
    sh("ewfacquire", [
      "-u",
      "-q",
      "-t",
      path.join(dir, name),
      "-S",
      "2MiB",
      "-c",
      "fast",
      "-d",
      "sha1",
      "-C",
      "ewf-case",
      "-e",
      "Erika",
      raw,
    ]);
    const segments = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(`${name}.E`))
      .sort()
      .map((f) => path.join(dir, f));
    if (segments.length < 3) throw new Error(`makeEwfEvidence: expected several segments, got ${segments.length}`);
    return { first: segments[0], segments, mediaSize: bytes.length, md5: digest("md5"), sha1: digest("sha1"), partitions };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
