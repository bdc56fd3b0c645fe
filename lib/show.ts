/** How a value reads in a message: text quoted, lists and mappings by kind, never a long dump. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (typeof value === "string") return `'${value.length > 80 ? `${value.slice(0, 77)}...` : value}'`;
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** `(got <value>)`, the end of a message about a value that was refused. */
export const got = (value: unknown): string => `(got ${show(value)})`;
