import * as pulumi from "@pulumi/pulumi";
import { hookResource } from "../../lib/command";
import { TYPE } from "../../lib/tokens";
import { componentArgsError } from "../../lib/args-error";
import { ImageTransferArgs, ValidatedArgs, validateArgs } from "./args";
import { parseHookResult } from "../../lib/hook-result";
import { acquisitionHooks, acquisitionResultSchema, checkHostHashResult, checkTransferResult, hostHashHooks, transferHooks } from "./plan";
import { AcquisitionCheck, GuestLayer, planTransfer, TransferPlan } from "./plan";

export { ImageTransferArgs } from "./args";
export { AcquisitionCheck, GuestLayer, pinnedChainFilename, pinnedChainOptions } from "./plan";

/** One file's hashes, both computed by the host; they are always equal. */
export interface FileHashes {
  readonly path: string;
  readonly guestPath: string;
  /** The evidence file, hashed on the host before anything moved (and equal to `inspect`'s, when it hashed). */
  readonly hostSha256: string;
  /**
   * The copy in the guest, hashed by the host from the bytes that crossed: those it sent (scp, a new
   * copy) or those the guest handed back when asked for the file (scp, a copy already there; sshfs).
   * Never a hash the guest reported: a guest's report can only stop a transfer.
   */
  readonly guestSha256: string;
}

/**
 * Brings one image's files from the host into the analysis guest, read-only and hashed:
 *
 * - `sshfs`: the guest mounts each host folder with `sshfs -o passive,ro`, fed by a jailed, read-only
 *   `sftp-server` through the host's own ssh session; the guest never opens a connection.
 * - `scp`: the files are streamed onto the encrypted case storage, kept sparse, renamed into place only
 *   when their hash matches, then made 0444 and immutable; an interrupted copy resumes.
 *
 * Every file is hashed on the host (`<name>-host-hash`); the copy in the guest is verified by hashes the
 * host computes of the bytes it sends or reads back (`<name>-sshfs`/`<name>-scp`), and any difference,
 * including one the guest reports, stops the transfer; every step is a line in the case's custody log. Outputs the
 * chain with guest paths (`guestChain`, top first), which NbdAttachment pins explicitly, because the
 * parent hints inside the images may name paths on the machine the evidence came from.
 */
export class ImageTransfer extends pulumi.ComponentResource {
  /** Top first, guest paths and formats: pin the backing chain with these (`pinnedChainOptions`). */
  public readonly guestChain: pulumi.Output<GuestLayer[]>;
  public readonly guestTopPath: pulumi.Output<string>;
  /** Host and guest sha256 of every file. */
  public readonly hashes: pulumi.Output<FileHashes[]>;
  /**
   * An EWF set only: its data checked in the guest against the acquisition hashes it stores (ewfverify),
   * once, after the transfer; `null` for other formats. The guest's report, logged as such.
   */
  public readonly acquisitionCheck: pulumi.Output<AcquisitionCheck | null>;
  public readonly guestRoot: string;
  public readonly mode: "sshfs" | "scp";

  constructor(name: string, args: ImageTransferArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // Only the contract the policy pack reads goes in as the component's inputs (the manifest can be large).
    super(
      TYPE.ImageTransfer,
      name,
      {
        guest: args.guest,
        imageName: args.imageName,
        mode: args.mode,
        readOnly: args.readOnly,
        hashed: args.hashed,
        guestRoot: args.guestRoot,
        custodyLogPath: args.custodyLogPath,
        examiner: args.examiner,
      },
      opts,
    );
    let validated: ValidatedArgs;
    let plan: TransferPlan;
    try {
      validated = validateArgs(args);
      plan = planTransfer(validated.manifest, validated.guestRoot);
    } catch (err) {
      throw componentArgsError("ImageTransfer", name, err, this);
    }
    this.guestRoot = validated.guestRoot;
    this.mode = validated.mode;

    const hashHooks = hostHashHooks(validated, plan);
    const hostHash = hookResource(`${name}-host-hash`, hashHooks, { parent: this });
    const hostSha256 = hostHash.stdout.apply((stdout) => checkHostHashResult(stdout, plan, `${name}-host-hash (host-hash.sh)`));

    // deleteBeforeReplace: two generations of one transfer would fight over the same mount points/copies.
    const transfer = hookResource(`${name}-${validated.mode}`, transferHooks(args.guest, validated, plan, hostSha256), {
      parent: this,
      deleteBeforeReplace: true,
    });

    const hook = `${name}-${validated.mode} (${validated.mode}.sh)`;
    this.hashes = pulumi
      .all([transfer.stdout, hostSha256])
      .apply(([stdout, expected]) => checkTransferResult(stdout, plan, expected, hook));
    if (validated.manifest.format === "ewf") {
      const check = hookResource(`${name}-acquisition`, acquisitionHooks(args.guest, validated, plan), {
        parent: this,
        dependsOn: [transfer],
      });
      const checkHook = `${name}-acquisition (host-acquisition.sh)`;
      this.acquisitionCheck = check.stdout.apply((stdout) => parseHookResult(stdout, acquisitionResultSchema, checkHook));
    } else {
      this.acquisitionCheck = pulumi.output(null);
    }

    // Derived from the transfer's (and an EWF set's check's) output so that whoever opens the chain
    // waits for the files to be there and, for EWF, found whole.
    this.guestChain = pulumi.all([this.hashes, this.acquisitionCheck]).apply(() => plan.guestChain.map((l) => ({ ...l })));
    this.guestTopPath = this.guestChain.apply((chain) => chain[0].path);

    this.registerOutputs({
      guestChain: this.guestChain,
      guestTopPath: this.guestTopPath,
      hashes: this.hashes,
      acquisitionCheck: this.acquisitionCheck,
      guestRoot: this.guestRoot,
      mode: this.mode,
    });
  }
}
