import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

/**
 * Bad component arguments, in one format for every component: each issue as `key: reason`, all of them,
 * on one line; the component then prefixes its kind and resource name (`componentArgsError`):
 *
 *   AnalysisGuest 'case-42-guest': memoryMiB: must be at least 512; colour: unknown key
 */
export class ArgsError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(issues.join("; "));
    this.name = "ArgsError";
  }
}

/** `a.b[2].c`, the key as a stack author writes it; `args` for the arguments as a whole. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i > 0 ? "." : ""}${String(p)}`)).join("") || "args";
}

/** Every issue of a zod error as `key: reason`; an unknown key is named as the key itself. */
export function issueLines(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((k) => `${keyPath([...issue.path, k])}: unknown key`)
      : [`${keyPath(issue.path)}: ${issue.message}`],
  );
}

/** Parses `value` with `schema`, or throws an ArgsError with every issue. */
export function parseArgs<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ArgsError(issueLines(parsed.error));
  return parsed.data;
}

/**
 * The error a component raises when its arguments (or a plan made from them) are refused:
 * `<Kind> '<name>': <what is wrong>`, attached to the resource so the engine shows it there.
 */
export function componentArgsError(kind: string, name: string, err: unknown, resource: pulumi.Resource): pulumi.ResourceError {
  const reason = err instanceof Error ? err.message : String(err);
  return new pulumi.ResourceError(`${kind} '${name}': ${reason}`, resource);
}
