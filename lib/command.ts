import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";

export interface HookCommandArgs {
  /** Rendered create hook (`hookCommand`/`inGuestCommand`). Re-run on update: create hooks are idempotent. */
  readonly create: pulumi.Input<string>;
  /** Rendered delete hook; must tolerate "already gone". */
  readonly delete: pulumi.Input<string>;
  /** A secret for the hook's stdin (LUKS passphrase). Wrapped in `pulumi.secret` here, whatever the caller did. */
  readonly stdin?: pulumi.Input<string>;
  /** Values whose change must re-run the hook even though the script text is the same. */
  readonly triggers?: pulumi.Input<unknown[]>;
}

/**
 * Every real action of the lab is one of these: a local command that runs a rendered hook with bash
 * (hooks use arrays and `[[ ]]`, and `local.Command` defaults to `/bin/sh`).
 */
export function hookResource(name: string, args: HookCommandArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
  return new command.local.Command(
    name,
    {
      interpreter: ["/bin/bash", "-c"],
      create: args.create,
      delete: args.delete,
      ...(args.stdin !== undefined ? { stdin: pulumi.secret(args.stdin) } : {}),
      ...(args.triggers !== undefined ? { triggers: args.triggers } : {}),
    },
    { ...opts, ...(args.stdin !== undefined ? { additionalSecretOutputs: ["stdin"] } : {}) },
  );
}
