import * as pulumi from "@pulumi/pulumi";
import { componentArgsError } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { GuestConnection, parseHookResult, renderHook } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import { AnalysisGuestArgs, evidenceDiskPath, resolveSettings } from "./args";
import { Accelerator } from "./domain-xml";
import { CREATE_HOOK, DELETE_HOOK, GuestCreateResult, guestCreateResultSchema, GuestPlan, planGuest, sshCommandFor } from "./plan";

export type { AnalysisGuestArgs } from "./args";

/**
 * The confined KVM (or TCG) guest evidence is examined in: a libvirt domain booted straight into the
 * offline-built guest image through a per-case qcow2 overlay, with no graphics, USB, shares or network
 * beyond one ssh forward, and a per-case ssh key and host key (pinned before the first connection).
 *
 * One child, `${name}-domain`: a local command whose create hook makes keys, seed disk and overlay,
 * defines and starts the domain and waits for ssh; its delete hook removes all of it again.
 */
export class AnalysisGuest extends pulumi.ComponentResource {
  /** `forensic-<caseId>`. */
  public readonly domainName: pulumi.Output<string>;
  /** How in-guest hooks reach the guest (`inGuestCommand`); resolves once the guest answers ssh. */
  public readonly connection: pulumi.Output<GuestConnection>;
  /** What an examiner types to get a shell in the guest, host key pinned. */
  public readonly sshCommand: pulumi.Output<string>;
  /** `ssh-ed25519 AAAA...`: the guest's host key, generated on the host and proven by the guest's sshd. */
  public readonly hostKey: pulumi.Output<string>;
  /** Where the guest's sshd is reached from the libvirt host: `127.0.0.1:<sshPort>` or `10.0.2.15:22`. */
  public readonly address: pulumi.Output<string>;
  /** What the guest runs on: `kvm` or `tcg` (software emulation), as detected on the libvirt host. */
  public readonly accelerator: pulumi.Output<Accelerator>;

  constructor(name: string, args: AnalysisGuestArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // The policy pack reads `network` and `hostShares` from the inputs: both are plain literals.
    super(TYPE.AnalysisGuest, name, { ...args, network: args.network ?? "user-restricted", hostShares: [] }, opts);
    let settings: ReturnType<typeof resolveSettings>;
    let basePlan: GuestPlan;
    try {
      settings = resolveSettings(args);
      basePlan = planGuest(settings);
    } catch (err) {
      throw componentArgsError("AnalysisGuest", name, err, this);
    }

    const { evidenceDiskType, ...plain } = settings;
    const plan: pulumi.Output<GuestPlan> =
      args.evidenceDisk === undefined || evidenceDiskType === undefined
        ? pulumi.output(basePlan)
        : pulumi
            .output(args.evidenceDisk.path)
            .apply((p) => planGuest({ ...plain, evidenceDisk: { path: evidenceDiskPath(p), type: evidenceDiskType } }));

    const domain = hookResource(
      `${name}-domain`,
      {
        create: plan.apply((p) => renderHook(CREATE_HOOK, p.createValues)),
        delete: renderHook(DELETE_HOOK, basePlan.deleteValues),
      },
      // A changed guest is a new guest: the old one goes first (same domain name, port and disks), and
      // the create hook leaves a running domain alone, so an in-place update would change nothing.
      { parent: this, replaceOnChanges: ["create"], deleteBeforeReplace: true },
    );

    const result = domain.stdout.apply((stdout) => {
      const r: GuestCreateResult = parseHookResult(stdout, guestCreateResultSchema, `${name}-domain (host-create.sh)`);
      if (r.domainName !== basePlan.domainName) {
        throw new Error(`${name}-domain: unexpected create result for ${basePlan.domainName}: ${JSON.stringify(r)}`);
      }
      return r;
    });
    const connection = basePlan.connection;
    this.domainName = pulumi.output(basePlan.domainName);
    // Through `result`, so everything that uses the connection waits for the guest to answer; with its
    // host key, so a replaced guest (new key) changes every in-guest command and they all run again.
    this.connection = result.apply((r): GuestConnection => ({ ...connection, hostKey: r.hostKey }));
    this.hostKey = result.apply((r) => r.hostKey);
    this.accelerator = result.apply((r) => r.accelerator);
    this.sshCommand = this.connection.apply(sshCommandFor);
    this.address = this.connection.apply((c) => `${c.host}:${c.port}`);

    this.registerOutputs({
      domainName: this.domainName,
      connection: this.connection,
      sshCommand: this.sshCommand,
      hostKey: this.hostKey,
      address: this.address,
      accelerator: this.accelerator,
    });
  }
}
