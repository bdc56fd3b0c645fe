/**
 * The image formats the lab opens: what `inspect` recognises, what config and the components accept.
 * The one definition; everything else imports it.
 */
export const IMAGE_FORMATS = ["vmdk", "qcow2", "raw", "vdi", "vhdx", "vpc", "ewf"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/**
 * The formats qemu opens itself, and the names `qemu-nbd --format` gets in the guest (never probed: a
 * probed format lets a crafted raw image pose as qcow2 and name a backing file). qemu has no EWF
 * driver: libewf's `ewfmount` exposes an EWF set as one read-only raw file, which qemu opens as raw.
 */
export const QEMU_FORMATS = ["vmdk", "qcow2", "raw", "vdi", "vhdx", "vpc"] as const;
export type QemuFormat = (typeof QEMU_FORMATS)[number];

/** The qemu driver that opens a layer of `format` (for EWF: the raw file ewfmount exposes). */
export function qemuFormatOf(format: ImageFormat): QemuFormat {
  return format === "ewf" ? "raw" : format;
}

/** Formats whose files can name further files (backing files, snapshot parents, extents). */
export const LAYERED_FORMATS: ReadonlySet<ImageFormat> = new Set<ImageFormat>(["vmdk", "qcow2"]);
