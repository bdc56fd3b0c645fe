import { Secret } from "@pulumi/policy";
import { peek } from "./resources";

/**
 * Whether an input was marked secret by the program. Validations cannot tell: @pulumi/policy hands them
 * plain values (pulumi/pulumi-policy#241). Remediations get the values through a secrets-preserving
 * proxy that only intercepts property reads, so the property's own descriptor still holds the
 * `Secret` wrapper. Undefined when the property is absent, or unknown at preview: an unknown value
 * travels without its secret mark, so nothing can be told until `pulumi up`.
 */
export function isSecretInput(props: Record<string, unknown>, key: string): boolean | undefined {
  const descriptor = Object.getOwnPropertyDescriptor(props, key);
  if (descriptor === undefined || descriptor.value === undefined) return undefined;
  if (descriptor.value instanceof Secret) return true;
  return peek(props, key).known ? false : undefined;
}

/** Secrets shorter than this would match ordinary text by accident ("on", "yes"). */
export const MIN_SECRET_LENGTH = 4;

/** The strings to look for: the value, and each of its lines when it has several (stdin often ends in "\n"). */
export function secretNeedles(value: unknown): string[] {
  if (typeof value !== "string") return [];
  const candidates = [value.replace(/\r?\n$/, ""), ...value.split(/\r?\n/)];
  return [...new Set(candidates.filter((c) => c.length >= MIN_SECRET_LENGTH))];
}

/**
 * Thrown by a remediation to stop the deployment. The analyzer server forwards an error's stack, so
 * the stack is the message alone: the examiner reads one line saying what to fix, not a trace.
 */
export class DeploymentStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeploymentStop";
    this.stack = message;
  }
}
