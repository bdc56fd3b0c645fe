import { createHash } from "crypto";

/**
 * The in-guest ssh wrapper this pack trusts: the sha256 of lib/hooks/in-guest.sh's body exactly as
 * `renderHook` embeds it (shebang dropped, lib/hooks/ssh-options.sh included). The pack is a package of
 * its own and reads no hook file at run time: it trusts the wrapper text it was reviewed with, pinned
 * here. When in-guest.sh or ssh-options.sh changes, policy/tests/in-guest-wrapper.test.ts fails and prints
 * the new value; review the change, then put it here.
 */
export const IN_GUEST_WRAPPER_SHA256 = "1a7f88a44d87bab99a07febba51631952853f70e6cbff105b6ff599b50792a82";

/** Whether a rendered hook's static body is, byte for byte, the wrapper this pack trusts. */
export function isInGuestWrapperBody(body: string): boolean {
  return createHash("sha256").update(body).digest("hex") === IN_GUEST_WRAPPER_SHA256;
}
