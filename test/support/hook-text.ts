/**
 * Test helpers: read a rendered hook (`renderHook`/`inGuestCommand` text) back the way bash does, so
 * tests compare the exact bytes a hook would see, and check its static part is the hook file unchanged.
 */
import { execFileSync } from "child_process";
import { hookBody, IN_GUEST_WRAPPER } from "../../lib/shell";

const MARKER = "\n# --- static hook ---\n";

/** Prelude and static body of a rendered hook. */
export function splitHook(text: string): { prelude: string; body: string } {
  // The last marker: a wrapper's prelude holds the inner hook, marker and all.
  const at = text.lastIndexOf(MARKER);
  if (at < 0) throw new Error("not a rendered hook: no static-hook marker");
  return { prelude: text.slice(0, at), body: text.slice(at + MARKER.length) };
}

/** The static part a hook file renders to (its shebang dropped, its includes expanded). */
export function staticBody(hookFile: string): string {
  return hookBody(hookFile);
}

/** A scalar value as bash sees it after running the prelude. */
export function scalarValue(text: string, name: string): string {
  return execFileSync("/bin/bash", ["-c", `${splitHook(text).prelude}\nprintf '%s' "$${name}"`], { encoding: "utf8" });
}

/** An array value as bash sees it after running the prelude. */
export function arrayValue(text: string, name: string): string[] {
  const out = execFileSync("/bin/bash", ["-c", `${splitHook(text).prelude}\nprintf '%s\\0' "\${${name}[@]}"`], { encoding: "utf8" });
  return out.split("\0").slice(0, -1);
}

/** The inner hook an in-guest command runs; throws unless the outer text is the wrapper file unchanged. */
export function innerHook(commandText: string): string {
  if (splitHook(commandText).body !== staticBody(IN_GUEST_WRAPPER)) throw new Error("the in-guest wrapper's static part was changed");
  return scalarValue(commandText, "INNER_HOOK");
}
