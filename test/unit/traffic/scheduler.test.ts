import { describe, expect, it } from "vitest";
import {
  runSchedule,
  type Clock,
  type ScheduleOptions,
} from "../../../tools/traffic/scheduler.ts";

/** Virtual time: sleeps resolve in time order, and time jumps to the next timer once everything else is idle. */
function createVirtualClock() {
  let now = 0;
  let timers: { at: number; resolve: () => void }[] = [];
  const clock: Clock = {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve) => {
        const timer = { at: now + ms, resolve };
        timers.push(timer);
        signal?.addEventListener("abort", () => {
          timers = timers.filter((t) => t !== timer);
          resolve();
        });
      }),
  };
  const idle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clock,
    now: () => now,
    /** Runs `work` to completion, advancing time whenever nothing else can happen. */
    async run<T>(work: Promise<T>): Promise<T> {
      let done = false;
      const result = work.finally(() => (done = true));
      while (!done) {
        await idle();
        if (done || timers.length === 0) continue;
        timers.sort((a, b) => a.at - b.at);
        const next = timers.shift()!;
        now = Math.max(now, next.at);
        next.resolve();
      }
      return result;
    },
  };
}

function schedule(
  options: Partial<ScheduleOptions>,
  taskMs: number | ((index: number) => number),
) {
  const virtual = createVirtualClock();
  const starts: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const outcome = virtual.run(
    runSchedule(
      {
        concurrency: 1,
        ratePerSecond: undefined,
        maxRequests: undefined,
        durationMs: undefined,
        signal: undefined,
        ...options,
        clock: virtual.clock,
      },
      async (index) => {
        starts.push(virtual.now());
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await virtual.clock.sleep(
          typeof taskMs === "number" ? taskMs : taskMs(index),
          undefined,
        );
        inFlight--;
      },
    ),
  );
  return { outcome, starts, maxInFlight: () => maxInFlight, now: virtual.now };
}

describe("runSchedule", () => {
  it("stops after the requested count, never exceeding the concurrency", async () => {
    const run = schedule({ maxRequests: 10, concurrency: 3 }, 100);
    expect(await run.outcome).toEqual({ started: 10, stoppedBy: "count" });
    expect(run.maxInFlight()).toBe(3);
    expect(run.starts).toEqual([0, 0, 0, 100, 100, 100, 200, 200, 200, 300]);
    // It returns once the last task has finished.
    expect(run.now()).toBe(400);
  });

  it("spaces starts evenly at the requested rate", async () => {
    const run = schedule(
      { ratePerSecond: 5, concurrency: 4, durationMs: 2000 },
      50,
    );
    expect(await run.outcome).toEqual({ started: 10, stoppedBy: "duration" });
    expect(run.starts).toEqual([
      0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800,
    ]);
  });

  it("stops starting at the deadline and lets in-flight tasks finish", async () => {
    const run = schedule({ concurrency: 2, durationMs: 1000 }, 300);
    expect(await run.outcome).toEqual({ started: 8, stoppedBy: "duration" });
    expect(run.starts).toEqual([0, 0, 300, 300, 600, 600, 900, 900]);
    expect(run.now()).toBe(1200);
  });

  it("does not burst to catch up after every slot was busy", async () => {
    // 10 req/s wanted, but one slot and 350 ms tasks: each start waits for the slot, one at a time.
    const run = schedule(
      { ratePerSecond: 10, concurrency: 1, maxRequests: 4 },
      350,
    );
    await run.outcome;
    expect(run.starts).toEqual([0, 350, 700, 1050]);
  });

  it("stops at once when the signal aborts, and waits for the tasks in flight", async () => {
    const controller = new AbortController();
    const run = schedule(
      { concurrency: 2, signal: controller.signal },
      (index) => {
        if (index === 3) controller.abort();
        return 100;
      },
    );
    expect(await run.outcome).toEqual({ started: 4, stoppedBy: "signal" });
  });

  it("keeps going when a task rejects", async () => {
    const virtual = createVirtualClock();
    let calls = 0;
    const outcome = await virtual.run(
      runSchedule(
        {
          concurrency: 2,
          ratePerSecond: undefined,
          maxRequests: 5,
          durationMs: undefined,
          signal: undefined,
          clock: virtual.clock,
        },
        async () => {
          calls++;
          await virtual.clock.sleep(10, undefined);
          throw new Error("boom");
        },
      ),
    );
    expect(outcome.started).toBe(5);
    expect(calls).toBe(5);
  });
});
