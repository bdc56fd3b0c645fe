/**
 * The policy tests' unsafe lab as a real Pulumi program: each fixture resource registered as the
 * component or command it stands for, with its secret inputs wrapped as secrets, so that the real
 * engine hands exactly that to the policy pack. Preview only (test/e2e/lab.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { LabResource, unsafeLab } from "../../../policy/tests/fixtures";

/** A component of any forensic-lab type, carrying the fixture's props as its inputs. */
class FixtureComponent extends pulumi.ComponentResource {
  constructor(type: string, name: string, props: Record<string, unknown>, opts: pulumi.ComponentResourceOptions) {
    super(type, name, props, opts);
    this.registerOutputs({});
  }
}

function inputs(r: LabResource): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r.props).map(([k, v]) => [k, r.secretKeys?.includes(k) ? pulumi.secret(v) : v]));
}

export = async () => {
  // forensic-lab-unsafe:plainPassphrase: whether the volume's passphrase is left out of the secrets too.
  const plainPassphrase = new pulumi.Config().getBoolean("plainPassphrase") ?? false;
  const registered = new Map<string, pulumi.Resource>();
  for (const r of await unsafeLab({ plainPassphrase })) {
    const parent = r.parent === undefined ? undefined : registered.get(r.parent);
    const opts = { parent, ...(r.additionalSecretOutputs ? { additionalSecretOutputs: [...r.additionalSecretOutputs] } : {}) };
    registered.set(
      r.name,
      r.type === "command:local:Command"
        ? new command.local.Command(r.name, inputs(r) as command.local.CommandArgs, opts)
        : new FixtureComponent(r.type, r.name, inputs(r), opts),
    );
  }
  return { resources: registered.size };
};
