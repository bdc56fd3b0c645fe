/**
 * The lab seen from the outside, as the e2e checks it: commands in the guest over the same pinned ssh
 * the hooks use, and the evidence on the host (its files' facts, before and after).
 */
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import type { ImageConfig } from "../../lib/config/types";
import { GuestConnection, HookValue, renderInGuest, renderPrelude } from "../../lib/shell";
import { MadeEvidence, MadeVolumes, readMadeEvidence, readMadeVolumes } from "../../scripts/made-evidence";

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `bash -c` with `stdin`; never throws on the exit code. */
export function bash(script: string, timeoutMs = 120_000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Runs `body` as root in the guest through `lib/hooks/in-guest.sh`, the way every in-guest hook runs
 * (pinned host key, per-case key); values reach it through a quoted prelude, never spliced.
 */
export function inGuest(guest: GuestConnection, body: string, values: Record<string, HookValue> = {}): Promise<ExecResult> {
  const inner = `#!/usr/bin/env bash\nset -euo pipefail\n${renderPrelude(values)}\n${body}\n`;
  return bash(renderInGuest(guest, inner, "fail"));
}

export async function mustInGuest(guest: GuestConnection, body: string, values: Record<string, HookValue> = {}): Promise<string> {
  const r = await inGuest(guest, body, values);
  if (r.code !== 0) throw new Error(`in the guest: exit ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  return r.stdout;
}

/** The manifest next to an image made by make-evidence.sh (`<out>/snapshots/x.vmdk` -> `<out>/evidence.json`). */
export function evidenceManifest(image: ImageConfig): MadeEvidence | undefined {
  for (let dir = path.dirname(image.path), i = 0; i < 3; dir = path.dirname(dir), i++) {
    const file = path.join(dir, "evidence.json");
    if (fs.existsSync(file)) return readMadeEvidence(dir);
  }
  return undefined;
}

/** The volumes.json beside an image made by scripts/make-volume-evidence.sh, if any. */
export function volumeManifest(image: ImageConfig): MadeVolumes | undefined {
  return readMadeVolumes(path.dirname(image.path));
}

export function mountPointOf(image: ImageConfig, partition: number): string | undefined {
  if (image.partitions === "all") return `${image.mountRoot}/p${partition}`;
  return image.partitions.find((p) => p.number === partition)?.mountPoint;
}

/** What must not change about an evidence file on the host. */
export interface FileFacts {
  readonly sha256: string;
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
}

/** Every file of each image's folders (the chain and its neighbours), with its facts. */
export function evidenceFacts(images: readonly ImageConfig[]): Map<string, FileFacts> {
  const facts = new Map<string, FileFacts>();
  for (const image of images) {
    // The evidence folder: the nearest one up holding evidence.json (snapshots/ -> its parent), never one
    // further up (a stray evidence.json in /var/lib/forensic-lab would make it every file there).
    let root = path.dirname(image.path);
    for (let dir = root, i = 0; i < 3; dir = path.dirname(dir), i++) {
      if (fs.existsSync(path.join(dir, "evidence.json"))) {
        root = dir;
        break;
      }
    }
    for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
      const file = path.join(root, rel);
      const st = fs.statSync(file);
      if (!st.isFile() || facts.has(file)) continue;
      facts.set(file, {
        sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
        size: st.size,
        mode: st.mode,
        mtimeMs: st.mtimeMs,
      });
    }
  }
  return facts;
}

/** Throws naming each file whose facts changed; says how many were compared. */
export function compareEvidence(before: Map<string, FileFacts>, after: Map<string, FileFacts>): string {
  const changed: string[] = [];
  for (const [file, was] of before) {
    const now = after.get(file);
    if (!now) changed.push(`${file}: gone`);
    else
      for (const key of ["sha256", "size", "mode", "mtimeMs"] as const)
        if (now[key] !== was[key]) changed.push(`${file}: ${key} ${was[key]} -> ${now[key]}`);
  }
  for (const file of after.keys()) if (!before.has(file)) changed.push(`${file}: new file among the evidence`);
  if (changed.length > 0) throw new Error(`evidence changed on the host: ${changed.join("; ")}`);
  return `${before.size} files unchanged`;
}

export const CUSTODY_LOG = "custody.jsonl";

/** Every file and folder under `dir` (relative), except the `kept` names at its top. */
export function leftovers(dir: string, kept: readonly string[]): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((name) => !kept.includes(name)).sort();
}
