import { ReportViolation } from "@pulumi/policy";
import { peek, show } from "./resources";

/**
 * Safety flags are plain literals in the component args (ARCHITECTURE.md), so a policy sees them at
 * preview. A flag that is unknown at preview was computed from another resource: that is itself wrong.
 */
export function requireLiteralTrue(
  props: Record<string, unknown>,
  key: string,
  consequence: string,
  reportViolation: ReportViolation,
): void {
  const flag = peek(props, key);
  if (!flag.known) reportViolation(`${key} must be the literal true, not a value computed during deployment`);
  else if (flag.value !== true) reportViolation(`${key} must be the literal true, got ${show(flag.value)}: ${consequence}`);
}

/** A literal that must be one of a fixed set of words. */
export function requireOneOf(
  props: Record<string, unknown>,
  key: string,
  allowed: readonly string[],
  consequence: string,
  reportViolation: ReportViolation,
): void {
  const value = peek(props, key);
  const list = allowed.map((a) => `'${a}'`).join(", ");
  if (!value.known) reportViolation(`${key} must be a literal (one of ${list}), not a value computed during deployment`);
  else if (typeof value.value !== "string" || !allowed.includes(value.value)) {
    reportViolation(`${key} must be one of ${list}, got ${show(value.value)}: ${consequence}`);
  }
}

/** 127.0.0.0/8 and ::1: the only addresses a guest port may be published on. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "");
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || a === "localhost" || a === "::1";
}
