import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMemoryOutbox } from "@proxy/delivery/memory-outbox.ts";
import {
  countDropped,
  createFifo,
  type OutboxEntry,
} from "@proxy/delivery/outbox.ts";
import { createMetrics, type Metrics } from "@proxy/metrics/definitions.ts";

async function counter(
  metric: Metrics["records"] | Metrics["recordsDropped"],
  labelValues: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) =>
      Object.entries(labelValues).every(
        ([k, val]) => (v.labels as Record<string, unknown>)[k] === val,
      ),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

const envelope = (i: number) => ({
  timeMs: 1_700_000_000_000 + i,
  requestId: `r${i}`,
  line: `{"request_id":"r${i}"}`,
});

/** The request id inside a taken entry's escaped line. */
const requestIdOf = (entry: OutboxEntry) =>
  (
    JSON.parse(JSON.parse(String(entry.json)) as string) as {
      request_id: string;
    }
  ).request_id;

describe("createFifo", () => {
  it("shifts in order and puts entries back at the front", () => {
    const q = createFifo<number>();
    for (let i = 0; i < 5; i++) q.push(i);
    expect(q.shift(2)).toEqual([0, 1]);
    q.unshift([0, 1]);
    expect(q.length).toBe(5);
    expect(q.shift(10)).toEqual([0, 1, 2, 3, 4]);
    expect(q.length).toBe(0);
    expect(q.peek()).toBeUndefined();
  });

  it("stays correct across compaction", () => {
    const q = createFifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    let next = 0;
    while (q.length > 0) {
      for (const n of q.shift(7)) expect(n).toBe(next++);
    }
    expect(next).toBe(5000);
  });
});

describe("memory outbox", () => {
  it("is bounded: past memoryMax, enqueue drops and counts memory_full", async () => {
    const metrics = createMetrics(new Registry());
    const outbox = createMemoryOutbox({ memoryMax: 3 }, { metrics });
    const accepted = [0, 1, 2, 3, 4].map((i) => outbox.enqueue(envelope(i)));
    expect(accepted).toEqual([true, true, true, false, false]);
    expect(
      await counter(metrics.recordsDropped, { reason: "memory_full" }),
    ).toBe(2);
    expect(await counter(metrics.records, { outcome: "dropped" })).toBe(2);
    await outbox.close();
  });

  it("take() waits for the first record and wakes on enqueue", async () => {
    const outbox = createMemoryOutbox(
      { memoryMax: 10 },
      { metrics: createMetrics(new Registry()) },
    );
    const started = Date.now();
    const taking = outbox.take(5, 30_000);
    setTimeout(() => outbox.enqueue(envelope(1)), 50);
    const got = await taking;
    expect(got.map((e) => requestIdOf(e))).toEqual(["r1"]);
    // Woken by the enqueue, not by its 30 s wait running out.
    expect(Date.now() - started).toBeLessThan(15_000);
    await outbox.close();
  });

  it("take() gives up after waitMs, or at once when its signal aborts", async () => {
    const outbox = createMemoryOutbox(
      { memoryMax: 10 },
      { metrics: createMetrics(new Registry()) },
    );
    expect(await outbox.take(5, 30)).toEqual([]);
    const controller = new AbortController();
    const started = Date.now();
    const taking = outbox.take(5, 30_000, controller.signal);
    controller.abort();
    expect(await taking).toEqual([]);
    expect(Date.now() - started).toBeLessThan(15_000);
    await outbox.close();
  });

  it("released entries come back first; acked ones are gone", async () => {
    const outbox = createMemoryOutbox(
      { memoryMax: 10 },
      { metrics: createMetrics(new Registry()) },
    );
    for (let i = 0; i < 4; i++) outbox.enqueue(envelope(i));
    const first = await outbox.take(2, 0);
    expect(outbox.localCount()).toBe(4);
    outbox.release(first);
    const again = await outbox.take(3, 0);
    expect(again.map((e) => requestIdOf(e))).toEqual(["r0", "r1", "r2"]);
    await outbox.ack(again);
    expect(outbox.localCount()).toBe(1);
    await outbox.close();
  });

  it("reports depth and the oldest record, held ones included", async () => {
    const outbox = createMemoryOutbox(
      { memoryMax: 10 },
      { metrics: createMetrics(new Registry()) },
    );
    for (let i = 0; i < 3; i++) outbox.enqueue(envelope(i));
    await outbox.take(1, 0);
    expect(await outbox.stats()).toEqual({
      depth: 3,
      oldestTimeMs: 1_700_000_000_000,
    });
    await outbox.close();
  });

  it("counts what is still queued at close as lost (shutdown)", async () => {
    const metrics = createMetrics(new Registry());
    const outbox = createMemoryOutbox({ memoryMax: 10 }, { metrics });
    for (let i = 0; i < 4; i++) outbox.enqueue(envelope(i));
    await outbox.take(1, 0);
    expect(await outbox.close()).toBe(4);
    expect(await counter(metrics.recordsDropped, { reason: "shutdown" })).toBe(
      4,
    );
  });
});

describe("countDropped", () => {
  it("counts both the outcome and the reason, and ignores zero", async () => {
    const metrics = createMetrics(new Registry());
    countDropped(metrics, "rejected_400", 3);
    countDropped(metrics, "rejected_400", 0);
    expect(await counter(metrics.records, { outcome: "dropped" })).toBe(3);
    expect(
      await counter(metrics.recordsDropped, { reason: "rejected_400" }),
    ).toBe(3);
  });
});
