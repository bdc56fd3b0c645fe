import { createHash } from "crypto";
import { hookBody, IN_GUEST_WRAPPER } from "../../lib/shell";
import { IN_GUEST_WRAPPER_SHA256, isInGuestWrapperBody } from "../lib/in-guest-wrapper";

test("the pack's pin of the in-guest wrapper is the wrapper the components render", () => {
  const body = hookBody(IN_GUEST_WRAPPER);
  const actual = createHash("sha256").update(body).digest("hex");
  if (actual !== IN_GUEST_WRAPPER_SHA256) {
    throw new Error(
      `${IN_GUEST_WRAPPER} (or an include) changed: its body's sha256 is now ${actual}. Review the change, then set IN_GUEST_WRAPPER_SHA256 in policy/lib/in-guest-wrapper.ts to it.`,
    );
  }
  expect(isInGuestWrapperBody(body)).toBe(true);
});

test("one byte more, and the body is not the trusted wrapper", () => {
  const body = hookBody(IN_GUEST_WRAPPER);
  expect(isInGuestWrapperBody(`${body}\n`)).toBe(false);
  expect(isInGuestWrapperBody(body.replace("StrictHostKeyChecking=yes", "StrictHostKeyChecking=no"))).toBe(false);
});
