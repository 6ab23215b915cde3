// Starts tasks at a steady rate with at most `concurrency` in flight, until a count, a deadline or an abort.
// The clock is injected so that tests can drive it.
import { setTimeout as delay } from "node:timers/promises";

export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal | undefined): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    delay(ms, undefined, { signal }).catch(() => undefined),
};

export interface ScheduleOptions {
  concurrency: number;
  /** Starts per second; undefined = start whenever a slot is free. */
  ratePerSecond: number | undefined;
  maxRequests: number | undefined;
  durationMs: number | undefined;
  signal: AbortSignal | undefined;
  clock?: Clock;
}

export interface ScheduleOutcome {
  started: number;
  /** Why no more tasks were started. */
  stoppedBy: "count" | "duration" | "signal";
}

/**
 * Runs `task(0)`, `task(1)`, … and resolves once the last one has settled. A task should not reject; if it does,
 * the rejection is swallowed here so that one bad request cannot stop the run (the task reports its own errors).
 * Without a count or a duration it runs until `signal` aborts.
 */
export async function runSchedule(
  options: ScheduleOptions,
  task: (index: number) => Promise<unknown>,
): Promise<ScheduleOutcome> {
  const clock = options.clock ?? systemClock;
  const { signal } = options;
  const start = clock.now();
  const deadline =
    options.durationMs !== undefined ? start + options.durationMs : Infinity;
  const interval =
    options.ratePerSecond !== undefined && options.ratePerSecond > 0
      ? 1000 / options.ratePerSecond
      : 0;
  const inFlight = new Set<Promise<unknown>>();
  const aborted = signal
    ? new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      })
    : new Promise<void>(() => undefined);
  let nextAt = start;
  let started = 0;
  let stoppedBy: ScheduleOutcome["stoppedBy"] = "signal";

  for (;;) {
    if (signal?.aborted === true) break;
    if (options.maxRequests !== undefined && started >= options.maxRequests) {
      stoppedBy = "count";
      break;
    }
    if (clock.now() >= deadline) {
      stoppedBy = "duration";
      break;
    }
    if (inFlight.size >= options.concurrency) {
      await Promise.race([...inFlight, aborted]);
      continue;
    }
    if (interval > 0) {
      const wait = Math.min(nextAt, deadline) - clock.now();
      if (wait > 0) {
        await clock.sleep(wait, signal);
        continue;
      }
      // After a stall (every slot busy) the next start is one interval from now: no burst to catch up.
      nextAt = Math.max(nextAt, clock.now()) + interval;
    }
    const index = started++;
    const running: Promise<unknown> = task(index)
      .catch(() => undefined)
      .finally(() => inFlight.delete(running));
    inFlight.add(running);
  }
  await Promise.allSettled([...inFlight]);
  return { started, stoppedBy };
}
