/**
 * The image formats the lab opens: what `inspect` recognises, what config and the components accept, and
 * the names `qemu-nbd --format` gets in the guest (never probed: a probed format lets a crafted raw image
 * pose as qcow2 and name a backing file). The one definition; everything else imports it.
 */
export const IMAGE_FORMATS = ["vmdk", "qcow2", "raw", "vdi", "vhdx", "vpc"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Formats whose files can name further files (backing files, snapshot parents, extents). */
export const LAYERED_FORMATS: ReadonlySet<ImageFormat> = new Set<ImageFormat>(["vmdk", "qcow2"]);
