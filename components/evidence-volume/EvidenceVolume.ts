import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import { componentArgsError } from "../../lib/args-error";
import { hookResource } from "../../lib/command";
import { GuestConnection, hookCommand, inGuestCommand, parseHookResult } from "../../lib/shell";
import { TYPE } from "../../lib/tokens";
import {
  backingValues,
  BackingResult,
  backingResultSchema,
  EvidenceDisk,
  HOOKS,
  LUKS_FORMAT,
  luksValues,
  LuksOpenResult,
  luksOpenResultSchema,
  planVolume,
  storageValues,
  StorageMountResult,
  storageMountResultSchema,
  VolumePlan,
} from "./plan";

import { EvidenceVolumeArgs } from "./args";

/** Options for `EvidenceVolume.openIn`. */
export interface OpenInOptions {
  /** The guest (and anything else) that must exist first: the hooks ssh into it. */
  readonly dependsOn?: pulumi.Resource | readonly pulumi.Resource[];
}

/** The decrypted, mounted case storage inside the guest. */
export interface CaseStorage {
  /** The in-guest mount (`<name>-case-storage`): later in-guest steps that write to /case depend on it. */
  readonly resource: command.local.Command;
  /** `/case`. */
  readonly mountPoint: pulumi.Output<string>;
  /** The decrypted block device in the guest (resolved, e.g. `/dev/dm-0` or `/dev/vdb`). */
  readonly device: pulumi.Output<string>;
  /** Filesystem on it (ext4 when the lab made it). */
  readonly filesystem: pulumi.Output<string>;
}

/**
 * Encrypted working storage for one case: copied images, exports and notes, mounted at `/case` in the
 * guest. Made before the guest (which attaches `disk`), opened in it with `openIn`, and crypto-erased
 * after the guest is gone: every keyslot destroyed, the header zeroed, the file or LV removed, unless
 * `retain`. See README.md for where the key lives with each backend.
 */
export class EvidenceVolume extends pulumi.ComponentResource {
  /** The sparse file, or `/dev/<vg>/forensic-<caseId>`. */
  public readonly backingPath: pulumi.Output<string>;
  /** LUKS version of the volume (2 for every volume the lab formats; an adopted one as found). */
  public readonly luksVersion: pulumi.Output<number>;
  /** Data cipher of the volume, e.g. `aes-xts-plain64`. */
  public readonly cipher: pulumi.Output<string>;
  /** True when destroy keeps the volume (closed, intact) instead of erasing it. */
  public readonly retained: pulumi.Output<boolean>;
  /** What the AnalysisGuest attaches with serial `forensic-evidence`. */
  public readonly disk: pulumi.Output<EvidenceDisk>;

  private readonly componentName: string;
  private readonly plan: VolumePlan;
  private readonly passphrase: pulumi.Output<string>;
  private readonly hostSide: pulumi.Resource[];
  private opened = false;

  constructor(name: string, args: EvidenceVolumeArgs, opts: pulumi.ComponentResourceOptions = {}) {
    // The args are the component's inputs, which the policy pack reads; the passphrase goes in wrapped
    // as a secret whatever the caller passed, so refusing a plain one below cannot leak it first.
    super(
      TYPE.EvidenceVolume,
      name,
      {
        ...args,
        retain: args.retain ?? false,
        fastKdfForTestsOnly: args.fastKdfForTestsOnly ?? false,
        passphrase: pulumi.secret(args.passphrase),
      },
      opts,
    );
    this.componentName = name;
    try {
      this.plan = planVolume(args);
    } catch (err) {
      throw componentArgsError("EvidenceVolume", name, err, this);
    }
    this.passphrase = requireSecret(name, args.passphrase, this);
    const plan = this.plan;

    // Identity of the volume: changing any of these makes a different volume (the old one is erased
    // first, as two generations would fight over one mapping name). Size is not here on purpose: a new
    // size is refused by the hook, never carried out by erasing the case.
    const identity = [plan.backend, plan.backingPath, plan.mapperName];
    const backingHooks = backingValues(plan);
    const backing = hookResource(
      `${name}-backing`,
      {
        create: hookCommand(HOOKS.backingCreate, backingHooks.create),
        delete: hookCommand(HOOKS.backingDelete, backingHooks.delete),
        triggers: identity,
      },
      { parent: this, deleteBeforeReplace: true },
    );
    const backingResult = backing.stdout.apply(
      (out) => parseHookResult(out, backingResultSchema, `${name}-backing (host-backing-create.sh)`) as BackingResult,
    );
    this.hostSide = [backing];
    this.backingPath = backingResult.backingPath;
    this.retained = pulumi.output(plan.retain);

    if (plan.luksWhere === "host") {
      const luksHooks = luksValues(plan);
      const luks = hookResource(
        `${name}-luks`,
        {
          create: hookCommand(HOOKS.luksOpen, luksHooks.open),
          delete: hookCommand(HOOKS.luksClose, luksHooks.close),
          stdin: this.passphrase,
          triggers: identity,
        },
        { parent: this, dependsOn: [backing], deleteBeforeReplace: true },
      );
      const opened = luks.stdout.apply(
        (out) => parseHookResult(out, luksOpenResultSchema, `${name}-luks (any-luks-open.sh)`) as LuksOpenResult,
      );
      this.hostSide.push(luks);
      this.luksVersion = opened.luksVersion;
      this.cipher = opened.cipher;
      this.disk = opened.mapperPath.apply((mapperPath): EvidenceDisk => ({ path: mapperPath, type: "block" }));
    } else {
      // Formatted in the guest on first open, with LUKS_FORMAT; an existing header is reported as found.
      this.luksVersion = backingResult.apply((r) => r.luks?.version ?? LUKS_FORMAT.version);
      this.cipher = backingResult.apply((r) => r.luks?.cipher ?? LUKS_FORMAT.cipher);
      this.disk = backingResult.backingPath.apply((path): EvidenceDisk => ({ path, type: "file" }));
    }

    this.registerOutputs({
      backingPath: this.backingPath,
      luksVersion: this.luksVersion,
      cipher: this.cipher,
      retained: this.retained,
      disk: this.disk,
    });
  }

  /**
   * Opens the case storage inside a running guest that attached `disk`: opens the LUKS layer there
   * (file backend; the passphrase travels on the ssh session's stdin), makes a filesystem once, mounts
   * it at `/case` (nodev, nosuid, noexec). On destroy: unmount, close, before the guest goes. Call once.
   */
  public openIn(guest: pulumi.Input<GuestConnection>, opts: OpenInOptions = {}): CaseStorage {
    if (this.opened) {
      throw new pulumi.ResourceError(`EvidenceVolume '${this.componentName}': openIn was already called; one guest opens a volume`, this);
    }
    this.opened = true;
    const name = this.componentName;
    const dependsOn = [...this.hostSide, ...(opts.dependsOn === undefined ? [] : ([] as pulumi.Resource[]).concat(opts.dependsOn))];

    let mountAfter = dependsOn;
    if (this.plan.luksWhere === "guest") {
      const luksHooks = luksValues(this.plan);
      const luks = hookResource(
        `${name}-luks`,
        {
          create: inGuestCommand(guest, HOOKS.luksOpen, luksHooks.open, "fail"),
          delete: inGuestCommand(guest, HOOKS.luksClose, luksHooks.close, "succeed"),
          stdin: this.passphrase,
        },
        { parent: this, dependsOn },
      );
      mountAfter = [luks];
    }
    const storageHooks = storageValues(this.plan);
    const mount = hookResource(
      `${name}-case-storage`,
      {
        create: inGuestCommand(guest, HOOKS.storageMount, storageHooks.mount, "fail"),
        delete: inGuestCommand(guest, HOOKS.storageUmount, storageHooks.umount, "succeed"),
      },
      { parent: this, dependsOn: mountAfter },
    );
    const mounted = mount.stdout.apply(
      (out) => parseHookResult(out, storageMountResultSchema, `${name}-case-storage (guest-storage-mount.sh)`) as StorageMountResult,
    );
    return { resource: mount, mountPoint: mounted.mountPoint, device: mounted.device, filesystem: mounted.filesystem };
  }
}

/**
 * The passphrase as an Output that fails, with a ResourceError naming the field, unless the caller's
 * value is a secret Output. Plain strings and promises are refused at once; a non-secret Output when
 * its secretness is known, before any command that would read it runs.
 */
export function requireSecret(name: string, passphrase: pulumi.Input<string>, resource: pulumi.Resource): pulumi.Output<string> {
  const refuse = (what: string) =>
    new pulumi.ResourceError(
      `EvidenceVolume '${name}': passphrase: must be a secret Output (config.requireSecret(...) or pulumi.secret(...)), not ${what}`,
      resource,
    );
  if (!pulumi.Output.isInstance(passphrase)) {
    throw refuse(passphrase === undefined ? "missing" : `a plain ${passphrase instanceof Promise ? "promise" : typeof passphrase}`);
  }
  const output = pulumi.output(passphrase);
  const secret = pulumi.isSecret(output);
  // Only the value fails: the engine reports it when the first command that reads it registers.
  return output.apply(async (value) => {
    if (!(await secret)) throw refuse("an Output that is not secret");
    return value;
  });
}
