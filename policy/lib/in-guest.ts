import { IN_GUEST_WRAPPER } from "../../lib/shell";
import { parseRenderedHook } from "../../lib/rendered-hook";
import { isInGuestWrapperBody } from "./in-guest-wrapper";

export type InGuestHook =
  { readonly ok: true; readonly domain: string; readonly innerHook: string } | { readonly ok: false; readonly problem: string };

/**
 * Whether a hook text is the in-guest ssh wrapper: a rendered hook whose static body is, byte for byte,
 * lib/hooks/in-guest.sh (pinned by its sha256 in in-guest-wrapper.ts), with a guest domain and a rendered inner hook in its prelude. The header
 * comment naming the file proves nothing; the body does.
 */
export function readInGuestHook(text: string): InGuestHook {
  const hook = parseRenderedHook(text);
  if (!hook || !isInGuestWrapperBody(hook.body)) {
    return { ok: false, problem: `is not the in-guest ssh wrapper (${IN_GUEST_WRAPPER}), so it would run on the host` };
  }
  const domain = hook.values.get("GUEST_DOMAIN");
  const inner = hook.values.get("INNER_HOOK");
  const knownHosts = hook.values.get("GUEST_KNOWN_HOSTS");
  if (typeof domain !== "string" || domain === "") return { ok: false, problem: "runs the in-guest wrapper without a GUEST_DOMAIN" };
  if (typeof knownHosts !== "string" || knownHosts === "") {
    return { ok: false, problem: "runs the in-guest wrapper without a pinned host key (GUEST_KNOWN_HOSTS)" };
  }
  if (typeof inner !== "string" || !parseRenderedHook(inner)) {
    return { ok: false, problem: "runs the in-guest wrapper without a rendered INNER_HOOK" };
  }
  return { ok: true, domain, innerHook: inner };
}
