import { Policies } from "@pulumi/policy";
import { evidenceAccessInGuest } from "./evidence-access-in-guest";
import { evidenceCommandsReadOnly } from "./evidence-commands-read-only";
import { evidenceGuestInStack } from "./evidence-guest-in-stack";
import { evidenceVolumeEncrypted } from "./evidence-volume-encrypted";
import { evidenceVolumeRetained } from "./evidence-volume-retained";
import { fastKdfForTestsOnly } from "./fast-kdf-for-tests-only";
import { guestIsolated } from "./guest-isolated";
import { guestMemoryLimit } from "./guest-memory-limit";
import { imageTransferHashed } from "./image-transfer-hashed";
import { imageTransferReadOnly } from "./image-transfer-read-only";
import { nbdAttachmentReadOnly } from "./nbd-attachment-read-only";
import { noSecretInCommandText } from "./no-secret-in-command-text";
import { partitionMountReadOnly } from "./partition-mount-read-only";
import { passphraseIsSecret } from "./passphrase-is-secret";

/** The pack's name, as `pulumi preview --policy-pack` reports it. */
export const POLICY_PACK_NAME = "forensic-lab";

/** Every policy of the pack, mandatory ones first. `policy/index.ts` serves them; tests run them directly. */
export const policies: Policies = [
  nbdAttachmentReadOnly,
  partitionMountReadOnly,
  evidenceAccessInGuest,
  evidenceGuestInStack,
  guestIsolated,
  evidenceVolumeEncrypted,
  passphraseIsSecret,
  evidenceCommandsReadOnly,
  noSecretInCommandText,
  imageTransferReadOnly,
  imageTransferHashed,
  guestMemoryLimit,
  evidenceVolumeRetained,
  fastKdfForTestsOnly,
];
