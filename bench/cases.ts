/**
 * Several cases at once: `count` whole labs (guest boot, case storage, sshfs transfer, attach, mount),
 * each its own stack, brought up by the e2e engine at the same time. Wall time until the last is up.
 */
import { Cleanup, timed } from "./support";
import { benchLab, destroyOnCleanup, StackOptions } from "./lab";

/** Brings `count` labs up at once and returns the wall time in seconds; destroys them again (untimed). */
export async function upAtOnce(count: number, opts: StackOptions, cleanup: Cleanup): Promise<number> {
  const labs = await Promise.all(Array.from({ length: count }, () => benchLab(opts)));
  const undo = labs.map((lab) => destroyOnCleanup(lab, cleanup));
  // allSettled: a failed case must not leave the others half-made and unrecorded.
  const { seconds, value: settled } = await timed(() => Promise.allSettled(labs.map((lab) => lab.up())));
  const destroyed = await Promise.allSettled(undo.map((u) => u.now()));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) throw failed.reason;
  const notDestroyed = destroyed.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (notDestroyed) throw notDestroyed.reason;
  return seconds;
}
