// Polls until a predicate returns a truthy value (or stops throwing), for tests that wait on asynchronous effects.

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Prefix for the timeout error. */
  message?: string;
}

/**
 * Resolves with the first truthy value `predicate` returns. A throw counts as "not yet"; on timeout the last
 * throw (or the last falsy value) is in the error message.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail =
        last instanceof Error ? last.message : `last value: ${String(last)}`;
      throw new Error(
        `${options.message ?? "waitFor"}: timed out after ${timeoutMs} ms (${detail})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
