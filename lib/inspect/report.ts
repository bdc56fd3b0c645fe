/**
 * The human-readable side of a manifest: a summary for examiners, and the cautions a manifest implies
 * about what qemu will show. Paths are shown escaped when they hold control characters.
 */
import { displayPath } from "./errors";
import type { ImageManifest } from "./types";

/**
 * Where qemu's view of a VMDK differs from VMware's: qemu drops RDONLY, NOACCESS and ZERO extents
 * entirely, so every later sector moves up and the disk it presents is shorter. The manifest's
 * virtualSize is qemu's; these lines say what it leaves out.
 */
export function qemuCautions(manifest: ImageManifest): string[] {
  const cautions: string[] = [];
  for (const layer of manifest.chain) {
    const skipped = layer.extents.filter((e) => e.access !== "RW" || e.type === "ZERO");
    if (skipped.length === 0) continue;
    const sectors = skipped.reduce((sum, e) => sum + e.sectors, 0);
    const kinds = [...new Set(skipped.map((e) => (e.type === "ZERO" ? "ZERO" : e.access)))].join("/");
    cautions.push(
      `${displayPath(layer.path)}: qemu skips ${skipped.length} ${kinds} extent(s) (${sectors} sectors); ` +
        "data after them appears at lower offsets than VMware would show",
    );
  }
  return cautions;
}

/** 1536 -> "1.5 KiB"; exact bytes are always printed next to it where they matter. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatManifest(m: ImageManifest): string {
  const out: string[] = [];
  out.push(`format        ${m.format}`);
  out.push(`virtual size  ${formatBytes(m.virtualSize)} (${m.virtualSize} bytes)`);
  out.push(`chain         ${m.chain.length} layer${m.chain.length === 1 ? "" : "s"}, top first`);
  m.chain.forEach((layer, i) => {
    out.push(`  [${i}] ${displayPath(layer.path)}`);
    const facts: string[] = [layer.format];
    if (layer.createType) facts.push(layer.createType);
    if (layer.cid) facts.push(`CID ${layer.cid}`);
    if (layer.parentCid) facts.push(`parentCID ${layer.parentCid}`);
    out.push(`      ${facts.join("  ")}`);
    for (const e of layer.extents) {
      const where = e.path === null ? "(no file)" : displayPath(e.path);
      out.push(`      ${e.access.padEnd(8)} ${String(e.sectors).padStart(12)} ${e.type.padEnd(10)} ${where}`);
    }
    if (layer.parentPath) out.push(`      parent ${displayPath(layer.parentPath)}`);
  });
  const total = m.files.reduce((sum, f) => sum + f.size, 0);
  out.push(`files         ${m.files.length} file${m.files.length === 1 ? "" : "s"}, ${formatBytes(total)} (${total} bytes)`);
  for (const f of m.files) {
    const size = formatBytes(f.size).padStart(11);
    out.push(`  ${size}  ${displayPath(f.path)}`);
    if (f.sha256) out.push(`               sha256 ${f.sha256}`);
  }
  if (m.acquisition) {
    const a = m.acquisition;
    out.push(`acquisition   ${a.container}, ${a.segments} segments, ${a.sectorCount} sectors of ${a.bytesPerSector} bytes`);
    out.push(`  set id      ${a.setIdentifier ?? "none recorded"}`);
    out.push(`  stored md5  ${a.md5 ?? "none"}`);
    out.push(`  stored sha1 ${a.sha1 ?? "none"}`);
  }
  for (const caution of qemuCautions(m)) out.push(`caution: ${caution}`);
  return out.join("\n");
}
