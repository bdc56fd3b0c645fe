/**
 * Progress lines (lib/hooks/progress.sh) and the evidence reader that shows them
 * (host-evidence-read.sh): what `pulumi up` prints while it hashes or sends a large image, or waits for a
 * guest to boot. Sizes, rates and times only; the evidence's bytes pass through unchanged.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { hookFile } from "../hook-file";
import { renderHook } from "../shell";

const progress = renderHook("lib/hooks/progress.sh", {});
const reader = renderHook(hookFile("image-transfer", "host-evidence-read.sh"), {});

function bash(script: string, opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) {
  const text = `${progress}\n${reader}\nset -euo pipefail\n${script}\n`;
  return spawnSync("/bin/bash", ["-c", text, "progress-test"], { input: opts.input, env: opts.env ?? process.env, maxBuffer: 64 << 20 });
}
const text = (b: Buffer) => b.toString("utf8");

/** dd's status=progress records, one per second given, each ended by a carriage return as dd ends them. */
const records = (perSecond: number, seconds: number[]) =>
  seconds.map((s) => `${s * perSecond} bytes (x MB, x MiB) copied, ${s}.00042 s, y MB/s\r`).join("");
const summary = (bytes: number, s: number) => `\n3+0 records in\n3+0 records out\n${bytes} bytes (x) copied, ${s}.5 s, y MB/s\n`;

describe("progress_lines", () => {
  const GB = 1_000_000_000;

  test("one line per interval with done, total, percent, rate and time left, then a closing line", () => {
    const input = records(100_000_000, [1, 2, 5, 9, 10, 11, 19, 21, 29]) + summary(3 * GB, 30);
    const r = bash(`PROGRESS_SECONDS=10 progress_lines "image-transfer: win7: hashing 'x' on the host" ${3 * GB}`, { input });
    expect(r.status).toBe(0);
    expect(text(r.stdout).split("\n")).toEqual([
      "image-transfer: win7: hashing 'x' on the host: 953.6 MiB of 2.7 GiB (33%), 95.3 MiB/s, about 20s left",
      "image-transfer: win7: hashing 'x' on the host: 1.9 GiB of 2.7 GiB (70%), 95.3 MiB/s, about 9s left",
      "image-transfer: win7: hashing 'x' on the host: 2.7 GiB in 31s",
      "",
    ]);
  });

  test("work shorter than one interval prints nothing; dd's own bookkeeping lines never show", () => {
    const r = bash(`PROGRESS_SECONDS=10 progress_lines label ${GB}`, { input: records(100_000_000, [1, 2, 9]) + summary(GB, 9) });
    expect(text(r.stdout)).toBe("");
  });

  test("a read too quick to time (dd writes its seconds as 4.0792e-05) is still dd's record, not an error", () => {
    const input = "\n1+0 records in\n1+0 records out\n1024 bytes (1.0 kB, 1.0 KiB) copied, 4.0792e-05 s, 25.1 MB/s\n";
    const r = bash(`PROGRESS_SECONDS=10 progress_lines label 1024`, { input });
    expect(text(r.stdout)).toBe("");
    expect(bash(`for s in 12.00042 7 4.0792e-05 0.5; do seconds_to_ms "$s"; done`).stdout.toString().split("\n")).toEqual([
      "12000",
      "7000",
      "0",
      "500",
      "",
    ]);
  });

  test("anything else dd says (an error) passes through as it is", () => {
    const input = `${records(1000, [1])}\ndd: error reading '/evidence/x.vmdk': Input/output error\n3+0 records in\n`;
    const r = bash(`PROGRESS_SECONDS=10 progress_lines label 5000`, { input });
    expect(text(r.stdout)).toBe("dd: error reading '/evidence/x.vmdk': Input/output error\n");
  });

  test("sizes and durations read as people write them", () => {
    const r = bash(
      `for b in 0 1023 1024 1536 1288490189 5497558138880; do human_bytes "$b"; done; for s in 9 75 3725; do human_duration "$s"; done`,
    );
    expect(text(r.stdout).trim().split("\n")).toEqual([
      "0 B",
      "1023 B",
      "1.0 KiB",
      "1.5 KiB",
      "1.2 GiB",
      "5.0 TiB",
      "9s",
      "1m15s",
      "1h02m",
    ]);
  });
});

describe("progress_wait", () => {
  test("one line per interval of the wait, however the rounds fall", () => {
    const r = bash(
      `PROGRESS_SECONDS=10; for s in 1 9 10 12 19 26 31; do SECONDS=$s; progress_wait "analysis-guest g: booting" 0 300 "no ssh answer yet"; done`,
    );
    expect(text(r.stderr).trim().split("\n")).toEqual([
      "analysis-guest g: booting: 10s of at most 5m00s, no ssh answer yet",
      "analysis-guest g: booting: 26s of at most 5m00s, no ssh answer yet",
      "analysis-guest g: booting: 31s of at most 5m00s, no ssh answer yet",
    ]);
  });
});

describe("read_evidence with a label", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "forensic-lab-progress-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  test("the evidence's bytes reach stdout unchanged, and a quick read says nothing", () => {
    const file = path.join(dir, "evidence.raw");
    fs.writeFileSync(file, Buffer.alloc(3 << 20, "evidence"));
    const r = bash(`read_evidence "${file}" "sending"`);
    expect(text(r.stderr)).toBe("");
    expect(r.status).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(fs.readFileSync(file)));
  });

  test("a failed read fails the reader (not only the progress pipe), with dd's own message", () => {
    const r = bash(`read_evidence "${dir}" "sending"`);
    expect(r.status).not.toBe(0);
    expect(text(r.stderr)).toMatch(/^dd: error reading '.*': Is a directory$/m);
    const hashed = bash(`evidence_sha256 "${dir}" "hashing"`);
    expect(hashed.status).not.toBe(0);
    expect(text(hashed.stdout)).toBe("");
  });

  test("a slow read shows progress on stderr while the bytes still flow to stdout", () => {
    // A stand-in dd that copies the file and reports as if each MiB took ten seconds: the clock in the
    // records is dd's, so this needs no waiting.
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(
      path.join(bin, "dd"),
      `#!/bin/bash\nfile=\${1#if=}\ncat -- "$file"\nfor s in 1 2 3; do printf '%d bytes (x) copied, %d.0 s, y\\r' $((s * 1048576)) $((s * 10)) >&2; done\nprintf '\\n3+0 records in\\n3+0 records out\\n3145728 bytes (x) copied, 30.0 s, y\\n' >&2\n`,
      { mode: 0o755 },
    );
    const file = path.join(dir, "slow.raw");
    fs.writeFileSync(file, Buffer.alloc(3 << 20, "slow"));
    const r = bash(`PROGRESS_SECONDS=10 read_evidence "${file}" "image-transfer: win7: sending '${file}' to the guest"`, {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    expect(r.status).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(fs.readFileSync(file)));
    expect(text(r.stderr).trim().split("\n")).toEqual([
      `image-transfer: win7: sending '${file}' to the guest: 1.0 MiB of 3.0 MiB (33%), 102.3 KiB/s, about 20s left`,
      `image-transfer: win7: sending '${file}' to the guest: 2.0 MiB of 3.0 MiB (66%), 102.3 KiB/s, about 10s left`,
      `image-transfer: win7: sending '${file}' to the guest: 3.0 MiB in 30s`,
    ]);
  });
});
