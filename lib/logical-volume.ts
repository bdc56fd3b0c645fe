/**
 * LVM logical volumes named as `vg/lv`: one definition for the config, the components and their result
 * schemas. Names inside evidence are the attacker's; only what lvm2 itself allows passes.
 */
import { z } from "zod";

/** One LVM name (volume group or logical volume) as lvm2 allows it (lib/misc/lvm-string.c validate_name). */
export const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,125}$/;

/** Whether `s` is `vg/lv` with two names lvm2 allows ("." and ".." are not names). */
export function isLogicalVolumeName(s: string): boolean {
  const parts = s.split("/");
  return parts.length === 2 && parts.every((p) => LVM_NAME.test(p) && p !== "." && p !== "..");
}

/** `vg/lv`: a logical volume, named by its volume group and its own name. */
export const logicalVolumeName = z
  .string()
  .refine(isLogicalVolumeName, "must be vg/lv: a volume group and a logical volume name (letters, digits, + _ . -)");
