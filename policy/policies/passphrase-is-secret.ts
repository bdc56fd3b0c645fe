import { ResourceValidationPolicy } from "@pulumi/policy";
import { TYPE } from "../../lib/tokens";
import { isCommandType } from "../lib/resources";
import { DeploymentStop, isSecretInput } from "../lib/secrets";

/**
 * The only place @pulumi/policy lets a policy see whether an input is secret is a remediation (see
 * lib/secrets.ts), so this policy runs at the "remediate" level and, rather than quietly wrapping the
 * value, stops the deployment: a plain passphrase usually means it sits unencrypted in the stack config
 * too, which no remediation can undo.
 */
export const passphraseIsSecret: ResourceValidationPolicy = {
  name: "passphrase-is-secret",
  description: "The evidence volume's passphrase and every hook's stdin are Pulumi secrets, never plain text in config or state.",
  enforcementLevel: "remediate",
  remediateResource: (args) => {
    if (args.type === TYPE.EvidenceVolume && isSecretInput(args.props, "passphrase") === false) {
      throw new DeploymentStop(
        `EvidenceVolume '${args.name}': passphrase is not a Pulumi secret, so it would be stored in plain text: set it with 'pulumi config set --secret' or wrap it in pulumi.secret()`,
      );
    }
    if (isCommandType(args.type) && isSecretInput(args.props, "stdin") === false) {
      throw new DeploymentStop(
        `command '${args.name}': stdin is not a Pulumi secret, so what it carries would be stored in plain text: pass it through hookResource, which wraps it in pulumi.secret()`,
      );
    }
    return undefined;
  },
};
