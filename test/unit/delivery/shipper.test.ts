import { pino } from "pino";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import type { PushOutcome } from "@proxy/delivery/loki-push.ts";
import { createMemoryOutbox } from "@proxy/delivery/memory-outbox.ts";
import type { Outbox } from "@proxy/delivery/outbox.ts";
import {
  backoffDelayMs,
  createShipper,
  MAX_RETRY_AFTER_MS,
  pushResultLabel,
  retryDelayMs,
  type Shipper,
  type ShipperOptions,
} from "@proxy/delivery/shipper.ts";
import { createMetrics, type Metrics } from "@proxy/metrics/definitions.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const logger = pino({ level: "silent" });
const labels = {
  service_name: "ollama-proxy",
  log_type: "request",
  env: "test",
};

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

describe("backoff", () => {
  it("stays within [0, min(max, base·2^attempt)) for every attempt (full jitter)", () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ceiling = Math.min(30_000, 100 * 2 ** attempt);
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const d = backoffDelayMs(attempt, 100, 30_000, () => r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
      }
    }
  });

  it("grows exponentially, then caps at retryMaxMs", () => {
    const top = (attempt: number) =>
      backoffDelayMs(attempt, 100, 5000, () => 0.999999);
    expect(top(0)).toBe(99);
    expect(top(1)).toBe(199);
    expect(top(3)).toBe(799);
    expect(top(10)).toBe(4999);
    expect(top(1000)).toBe(4999);
  });

  it("spreads retries (jitter) instead of synchronising replicas", () => {
    const samples = new Set(
      Array.from({ length: 50 }, () => backoffDelayMs(6, 100, 30_000)),
    );
    expect(samples.size).toBeGreaterThan(10);
  });

  it("waits at least Retry-After", () => {
    expect(retryDelayMs(0, 2000, 100, 30_000, () => 0)).toBe(2000);
    expect(retryDelayMs(0, 2000, 100, 30_000, () => 0.999)).toBe(2000);
    // A bigger jittered backoff wins over a small Retry-After.
    expect(retryDelayMs(10, 10, 100, 30_000, () => 0.5)).toBe(15_000);
  });

  it("caps an absurd Retry-After", () => {
    expect(retryDelayMs(0, 86_400_000, 100, 30_000, () => 0)).toBe(
      MAX_RETRY_AFTER_MS,
    );
  });

  it.each<[PushOutcome, string]>([
    [{ kind: "ok", status: 204 }, "2xx"],
    [{ kind: "rejected", status: 400, reason: "" }, "4xx"],
    [
      { kind: "retry", status: 429, reason: "", retryAfterMs: undefined },
      "429",
    ],
    [
      { kind: "retry", status: 503, reason: "", retryAfterMs: undefined },
      "5xx",
    ],
    [
      { kind: "retry", status: undefined, reason: "", retryAfterMs: undefined },
      "error",
    ],
  ])("labels push durations by result (%j → %s)", (outcome, label) => {
    expect(pushResultLabel(outcome)).toBe(label);
  });
});

interface Harness {
  outbox: Outbox;
  shipper: Shipper;
  metrics: Metrics;
  pushes: Array<{ atMs: number; lines: string[]; bytes: number }>;
  /** Answers for the next pushes, in order; when empty, ok. */
  script: PushOutcome[];
  enqueue(count: number, line?: (i: number) => string): void;
}

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) {
    await h.shipper.stop(0);
    await h.outbox.close();
  }
});

function harness(overrides: Partial<ShipperOptions> = {}): Harness {
  const metrics = createMetrics(new Registry());
  const outbox = createMemoryOutbox({ memoryMax: 10_000 }, { metrics });
  const pushes: Harness["pushes"] = [];
  const script: PushOutcome[] = [];
  const shipper = createShipper(
    {
      labels,
      batchMaxRecords: 100,
      batchMaxBytes: 1 << 20,
      batchWaitMs: 20,
      retryBaseMs: 10,
      retryMaxMs: 50,
      keepAliveIntervalMs: 1000,
      idleTakeMs: 50,
      ...overrides,
    },
    {
      outbox,
      metrics,
      logger,
      push: (body) => {
        const payload = JSON.parse(body.toString("utf8")) as {
          streams: Array<{ values: Array<[string, string]> }>;
        };
        pushes.push({
          atMs: Date.now(),
          lines: payload.streams.flatMap((s) => s.values.map((v) => v[1])),
          bytes: Buffer.byteLength(body),
        });
        return Promise.resolve(script.shift() ?? { kind: "ok", status: 204 });
      },
    },
  );
  const h: Harness = {
    outbox,
    shipper,
    metrics,
    pushes,
    script,
    enqueue(count, line = (i) => `{"request_id":"r${i}"}`) {
      for (let i = 0; i < count; i++) {
        outbox.enqueue({
          timeMs: Date.now(),
          requestId: `r${i}`,
          line: line(i),
        });
      }
    },
  };
  running.push(h);
  return h;
}

const shippedLines = (h: Harness) => h.pushes.flatMap((p) => p.lines);

describe("batching", () => {
  it("cuts batches at batchMaxRecords", async () => {
    const h = harness({ batchMaxRecords: 10, batchWaitMs: 300 });
    h.enqueue(25);
    h.shipper.start();
    await waitFor(() => shippedLines(h).length === 25, {
      message: "all shipped",
    });
    // 10 and 10 go out at once; the last 5 wait for batchWaitMs.
    expect(h.pushes.map((p) => p.lines.length)).toEqual([10, 10, 5]);
  });

  it("reads a steady trickle a few times per batch, not once per record", async () => {
    const h = harness({ batchMaxRecords: 1000, batchWaitMs: 300 });
    let takes = 0;
    const take = h.outbox.take.bind(h.outbox);
    h.outbox.take = (...args) => {
      takes++;
      return take(...args);
    };
    h.shipper.start();
    const startedAt = performance.now();
    for (let i = 0; i < 150; i++) {
      h.outbox.enqueue({
        timeMs: Date.now(),
        requestId: `t${i}`,
        line: `{"request_id":"t${i}"}`,
      });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const elapsedMs = performance.now() - startedAt;
    await waitFor(() => shippedLines(h).length === 150, { timeoutMs: 5000 });
    // Each read is a Redis round trip in production: after a short read the shipper waits takeGapMs (50 ms).
    expect(takes).toBeLessThanOrEqual(Math.ceil(elapsedMs / 50) + 10);
    expect(takes).toBeLessThan(150);
  });

  it("cuts batches at batchMaxBytes", async () => {
    const line = (i: number) =>
      JSON.stringify({ request_id: `r${i}`, pad: "x".repeat(200) });
    const h = harness({ batchMaxBytes: 1000, batchWaitMs: 200 });
    h.enqueue(20, line);
    h.shipper.start();
    await waitFor(() => shippedLines(h).length === 20);
    for (const push of h.pushes)
      expect(push.lines.length).toBeLessThanOrEqual(4);
    // The byte bound is about the request: a batch's body stays near the limit (plus the fixed envelope).
    for (const push of h.pushes) expect(push.bytes).toBeLessThan(1000 + 200);
  });

  it("sends a record bigger than batchMaxBytes on its own", async () => {
    const h = harness({ batchMaxBytes: 100 });
    h.enqueue(3, (i) =>
      JSON.stringify({ request_id: `r${i}`, pad: "y".repeat(300) }),
    );
    h.shipper.start();
    await waitFor(() => shippedLines(h).length === 3);
    expect(h.pushes.map((p) => p.lines.length)).toEqual([1, 1, 1]);
  });

  it("waits up to batchWaitMs for a batch to fill, then sends what it has", async () => {
    const h = harness({ batchWaitMs: 300 });
    h.shipper.start();
    const started = Date.now();
    h.enqueue(3);
    await waitFor(() => h.pushes.length === 1, { timeoutMs: 2000 });
    expect((h.pushes[0]?.atMs ?? 0) - started).toBeGreaterThanOrEqual(250);
    expect(h.pushes[0]?.lines).toHaveLength(3);
  });
});

describe("delivery", () => {
  it("retries 5xx and network errors until Loki accepts, then counts the records shipped once", async () => {
    const h = harness();
    h.script.push(
      {
        kind: "retry",
        status: 503,
        reason: "unavailable",
        retryAfterMs: undefined,
      },
      {
        kind: "retry",
        status: undefined,
        reason: "ECONNREFUSED",
        retryAfterMs: undefined,
      },
    );
    h.enqueue(5);
    h.shipper.start();
    await waitFor(() => h.pushes.length === 3);
    await waitFor(
      async () =>
        (await counter(h.metrics.records, { outcome: "shipped" })) === 5,
    );
    expect(h.pushes.map((p) => p.lines)).toEqual([
      h.pushes[0]?.lines,
      h.pushes[0]?.lines,
      h.pushes[0]?.lines,
    ]);
    expect(await counter(h.metrics.records, { outcome: "retried" })).toBe(10);
    expect(h.outbox.localCount()).toBe(0);
  });

  it("never resends a 400 and keeps shipping later records", async () => {
    const h = harness({ batchMaxRecords: 5 });
    h.script.push({ kind: "rejected", status: 400, reason: "line too long" });
    h.enqueue(10);
    h.shipper.start();
    await waitFor(() => h.pushes.length === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(h.pushes).toHaveLength(2);
    expect(
      await counter(h.metrics.recordsDropped, { reason: "rejected_400" }),
    ).toBe(5);
    expect(await counter(h.metrics.records, { outcome: "shipped" })).toBe(5);
    expect(h.outbox.localCount()).toBe(0);
  });

  it("counts only what Loki says it ignored in a partial 400", async () => {
    const h = harness();
    h.script.push({
      kind: "rejected",
      status: 400,
      reason: "user 'x', total ignored: 1 out of 4 for stream: {a=\"b\"}",
    });
    h.enqueue(4);
    h.shipper.start();
    await waitFor(() => h.pushes.length === 1);
    await waitFor(
      async () =>
        (await counter(h.metrics.recordsDropped, {
          reason: "rejected_400",
        })) === 1,
    );
    expect(await counter(h.metrics.records, { outcome: "shipped" })).toBe(3);
  });

  it("splits a batch on 413 and drops a single record Loki still refuses", async () => {
    const h = harness();
    h.script.push(
      { kind: "too_large", status: 413, reason: "too big" }, // 4 → 2 + 2
      { kind: "too_large", status: 413, reason: "too big" }, // 2 → 1 + 1
      { kind: "too_large", status: 413, reason: "too big" }, // 1 → dropped
    );
    h.enqueue(4);
    h.shipper.start();
    await waitFor(
      async () =>
        (await counter(h.metrics.records, { outcome: "shipped" })) === 3,
    );
    expect(h.pushes.map((p) => p.lines.length)).toEqual([4, 2, 1, 1, 2]);
    expect(
      await counter(h.metrics.recordsDropped, { reason: "too_large" }),
    ).toBe(1);
  });

  it("stopping during retries gives the batch back to the outbox", async () => {
    const h = harness({ retryBaseMs: 10_000, retryMaxMs: 10_000 });
    h.script.push({
      kind: "retry",
      status: 503,
      reason: "",
      retryAfterMs: 5000,
    });
    h.enqueue(3);
    h.shipper.start();
    await waitFor(() => h.pushes.length === 1);
    const started = Date.now();
    await h.shipper.stop(0);
    expect(Date.now() - started).toBeLessThan(500);
    expect(h.outbox.localCount()).toBe(3);
  });

  it("drain ships everything without waiting for batches to fill", async () => {
    const h = harness({ batchWaitMs: 60_000, batchMaxRecords: 1000 });
    h.shipper.start();
    h.enqueue(7);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await h.shipper.drain(Date.now() + 2000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(shippedLines(h)).toHaveLength(7);
  });
});
