/**
 * @pulumi/policy throws `UnknownValueError` when a policy touches a value unknown during preview, and
 * exports the class and its proxy at run time, but its typings leave them out (marked internal).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the run-time exports the typings leave out
const runtime = require("@pulumi/policy") as {
  UnknownValueError: new (...args: never[]) => Error;
  unknownCheckingProxy<T extends object>(value: T): T;
};

/** True for the error @pulumi/policy throws on reading an unknown (preview) value. */
export function isUnknownValueError(err: unknown): err is Error {
  return err instanceof runtime.UnknownValueError;
}

/** The proxy the analyzer server wraps resource props in. */
export const unknownCheckingProxy = runtime.unknownCheckingProxy;
