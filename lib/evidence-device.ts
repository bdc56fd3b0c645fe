/**
 * What VolumeSystems and PartitionMount read: an attached image (`nbdDevice`, `/dev/nbdN`) or a
 * RaidArray's mapping (`arrayDevice`, `/dev/mapper/fl-array-<name>`), exactly one of them. One check for
 * both components' args; lib/hooks/evidence-device.sh is the same rule in the guest.
 */
import { z } from "zod";

/** The two schema fields, Inputs handed to the hooks as they resolve. */
export const evidenceDeviceFields = {
  nbdDevice: z.unknown().optional(),
  arrayDevice: z.unknown().optional(),
};

/** In a `superRefine`: an issue on `nbdDevice` unless exactly one of the two is given. */
export function requireOneEvidenceDevice(a: { nbdDevice?: unknown; arrayDevice?: unknown }, ctx: z.RefinementCtx): void {
  if ((a.nbdDevice === undefined) === (a.arrayDevice === undefined))
    ctx.addIssue({
      code: "custom",
      path: ["nbdDevice"],
      message: "give exactly one of nbdDevice (an image) and arrayDevice (an md array)",
    });
}
