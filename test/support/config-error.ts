import { ConfigError } from "../../lib/config";

/** The ConfigError `fn` throws; any other error is rethrown, and no error at all fails the test. */
export function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}
