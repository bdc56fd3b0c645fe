import { ResourceValidationPolicy } from "@pulumi/policy";
import { IMAGE_FORMATS, QEMU_FORMATS } from "../../lib/image-format";
import { TYPE } from "../../lib/tokens";
import { requireLiteralTrue, requireOneOf } from "../lib/checks";
import { qemuNbdFormat } from "../lib/evidence-writes";
import { commandTexts, excerpt, isCommandType, parentType } from "../lib/resources";
import { invocationsIn } from "../lib/shell-text";

export const nbdAttachmentReadOnly: ResourceValidationPolicy = {
  name: "nbd-attachment-read-only",
  description: "Disk images are attached with qemu-nbd read-only and with their format named, never probed.",
  enforcementLevel: "mandatory",
  validateResource: [
    (args, reportViolation) => {
      if (args.type !== TYPE.NbdAttachment) return;
      requireLiteralTrue(args.props, "readOnly", "qemu-nbd would export the image writable", reportViolation);
      requireOneOf(
        args.props,
        "format",
        IMAGE_FORMATS,
        "a probed format lets a crafted raw image pose as qcow2 and name a backing file",
        reportViolation,
      );
    },
    (args, reportViolation) => {
      if (!isCommandType(args.type) || parentType(args.urn) !== TYPE.NbdAttachment) return;
      for (const { step, text } of commandTexts(args.props)) {
        for (const invocation of invocationsIn(text)) {
          if (invocation.program !== "qemu-nbd") continue;
          const { format, connects } = qemuNbdFormat(invocation);
          if (!connects) continue;
          if (!format) reportViolation(`${step} hook runs \`${excerpt(invocation.text)}\` without --format, so qemu-nbd probes the image`);
          else if (format.known && !(QEMU_FORMATS as readonly string[]).includes(format.text)) {
            reportViolation(`${step} hook runs qemu-nbd with --format=${format.text}, which is not one of ${QEMU_FORMATS.join(", ")}`);
          }
        }
      }
    },
  ],
};
