/**
 * Several cases at once: `count` whole labs (guest boot, case storage, sshfs transfer, attach, mount),
 * each its own stack, brought up by the e2e engine at the same time. Wall time until the last is up,
 * and each up's hook steps: what the cases wait on when they share the host.
 */
import type { EngineRun } from "../test/e2e/lab";
import type { StepLog } from "../test/e2e/pulumi";
import { Cleanup, hostBusyCpuSeconds, timed } from "./support";
import { benchLab, destroyOnCleanup, StackOptions } from "./lab";

export interface CasesUp {
  /** Wall time until every lab is up. */
  readonly seconds: number;
  /** CPU seconds the whole host was busy meanwhile (engines, guests, hooks: everything). */
  readonly cpuSeconds: number;
  /** Each lab's up: its own wall time and its step log, in the order the labs were made. */
  readonly ups: readonly { readonly seconds: number; readonly log: readonly StepLog[] }[];
}

/** Brings `count` labs up at once; destroys them all afterwards (untimed), whatever happened. */
export async function upAtOnce(count: number, opts: StackOptions, cleanup: Cleanup): Promise<CasesUp> {
  const labs = await Promise.all(Array.from({ length: count }, () => benchLab(opts)));
  const undo = labs.map((lab) => destroyOnCleanup(lab, cleanup));
  // allSettled: a failed case must not leave the others half-made and unrecorded.
  const busyBefore = hostBusyCpuSeconds();
  const { seconds, value: settled } = await timed(() => Promise.allSettled(labs.map((lab) => timed(() => lab.up()))));
  const cpuSeconds = hostBusyCpuSeconds() - busyBefore;
  const destroyed = await Promise.allSettled(undo.map((u) => u.now()));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  const notDestroyed = destroyed.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (notDestroyed) throw notDestroyed.reason;
  const ups = settled
    .filter((s): s is PromiseFulfilledResult<{ seconds: number; value: EngineRun }> => s.status === "fulfilled")
    .map((s) => ({ seconds: s.value.seconds, log: s.value.value.log }));
  return { seconds, cpuSeconds, ups };
}
