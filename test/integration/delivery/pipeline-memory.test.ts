// The pipeline without Redis (bounded in-memory queue) and without Loki (stdout), against the fake Loki.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createAnalyticsPipeline,
  type AnalyticsPipeline,
} from "@proxy/delivery/pipeline.ts";
import type { Metrics } from "@proxy/metrics/definitions.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import {
  arrivals,
  continuousEnqueue,
  duplicated,
  logger,
  metricValue,
  missing,
  pipelineOptions,
  record,
  sleep,
  testMetrics,
} from "./support.ts";

let loki: FakeLoki;
let metrics: Metrics;
const pipelines: AnalyticsPipeline[] = [];

beforeEach(async () => {
  loki = await createFakeLoki();
  metrics = testMetrics();
});

afterEach(async () => {
  for (const p of pipelines.splice(0)) await p.close();
  await loki.close();
});

function start(overrides: Parameters<typeof pipelineOptions>[0] = {}) {
  const pipeline = createAnalyticsPipeline(
    pipelineOptions({ lokiUrl: loki.url, ...overrides }),
    { metrics, logger },
  );
  pipelines.push(pipeline);
  return pipeline;
}

describe("memory outbox → Loki", () => {
  it("ships every record once, with the configured labels and ns timestamps", async () => {
    const pipeline = start();
    const records = Array.from({ length: 500 }, () => record());
    for (const r of records) pipeline.enqueue(r);
    await waitFor(() => loki.entries().length >= 500, {
      message: "500 entries",
    });
    const entries = loki.entries();
    expect(entries).toHaveLength(500);
    expect(
      missing(
        loki,
        records.map((r) => r.requestId),
      ),
    ).toEqual([]);
    expect(entries[0]?.labels).toEqual({
      service_name: "ollama-proxy",
      log_type: "request",
      env: "test",
    });
    const first = records[0];
    const stored = entries.find((e) => e.line === first?.line);
    expect(stored?.tsNs).toBe(`${first?.timeMs}000000`);
    await waitFor(
      async () =>
        (await metricValue(metrics.records, { outcome: "shipped" })) === 500,
    );
    expect(await metricValue(metrics.records, { outcome: "enqueued" })).toBe(
      500,
    );
    expect(
      await metricValue(metrics.lokiPushDuration, { result: "2xx" }),
    ).toBeGreaterThan(0);
  });

  it("survives an outage under continuous enqueue: everything arrives exactly once", async () => {
    const pipeline = start();
    const load = continuousEnqueue(pipeline, { intervalMs: 5, perTick: 2 });
    await sleep(200);
    await loki.fail("down");
    await sleep(1500);
    await loki.setMode({ kind: "ok" });
    await sleep(200);
    load.stop();
    await waitFor(() => missing(loki, load.ids).length === 0, {
      timeoutMs: 10_000,
      message: "all records after the outage",
    });
    expect(duplicated(loki)).toEqual([]);
    expect(load.throws).toBe(0);
    expect(
      await metricValue(metrics.records, { outcome: "retried" }),
    ).toBeGreaterThan(0);
    expect(
      await metricValue(metrics.lokiPushDuration, { result: "error" }),
    ).toBeGreaterThan(0);
  });

  it("retries 500 and 503 and a hanging Loki (push timeout)", async () => {
    const pipeline = start({ pushTimeoutMs: 300 });
    await loki.fail(500, { times: 2 });
    const a = record();
    pipeline.enqueue(a);
    await waitFor(() => arrivals(loki).has(a.requestId), {
      message: "after 500s",
    });
    await loki.fail(503, { times: 1 });
    const b = record();
    pipeline.enqueue(b);
    await waitFor(() => arrivals(loki).has(b.requestId), {
      message: "after 503",
    });
    await loki.fail("hang", { times: 1 });
    const c = record();
    pipeline.enqueue(c);
    await waitFor(() => arrivals(loki).has(c.requestId), {
      message: "after hang",
    });
    expect(duplicated(loki)).toEqual([]);
    expect(await metricValue(metrics.lokiPushDuration, { result: "5xx" })).toBe(
      3,
    );
  });

  it("honours 429 Retry-After", async () => {
    const pipeline = start({ retryBaseMs: 10, retryMaxMs: 50 });
    await loki.fail(429, { times: 1, retryAfter: "2" });
    const r = record();
    pipeline.enqueue(r);
    await waitFor(() => arrivals(loki).has(r.requestId), { timeoutMs: 6000 });
    const [refused, accepted] = loki.pushes;
    expect(refused?.status).toBe(429);
    expect(accepted?.status).toBe(204);
    // Without Retry-After the backoff here is < 50 ms.
    expect((accepted?.atMs ?? 0) - (refused?.atMs ?? 0)).toBeGreaterThanOrEqual(
      1950,
    );
    expect(await metricValue(metrics.lokiPushDuration, { result: "429" })).toBe(
      1,
    );
  });

  it("does not resend a 400 batch, and later records still arrive", async () => {
    const pipeline = start();
    await loki.fail(400, { times: 1, body: "entry too far behind\n" });
    const rejected = record();
    pipeline.enqueue(rejected);
    await waitFor(() => loki.pushes.length === 1);
    const later = Array.from({ length: 20 }, () => record());
    for (const r of later) pipeline.enqueue(r);
    await waitFor(
      () =>
        missing(
          loki,
          later.map((r) => r.requestId),
        ).length === 0,
    );
    expect(loki.pushes.filter((p) => p.status === 400)).toHaveLength(1);
    expect(arrivals(loki).has(rejected.requestId)).toBe(false);
    expect(
      await metricValue(metrics.recordsDropped, { reason: "rejected_400" }),
    ).toBe(1);
  });

  it("keeps the valid part of a partially rejected batch (Loki's partial accept) and sends nothing twice", async () => {
    const pipeline = start({ batchWaitMs: 200 });
    const good = Array.from({ length: 5 }, () => record());
    const old = { ...record(), timeMs: Date.now() - 8 * 24 * 3600_000 };
    for (const r of [...good.slice(0, 2), old, ...good.slice(2)])
      pipeline.enqueue(r);
    await waitFor(() => loki.pushes.length >= 1);
    await sleep(300);
    expect(loki.pushes.map((p) => p.status)).toEqual([400]);
    expect(
      missing(
        loki,
        good.map((r) => r.requestId),
      ),
    ).toEqual([]);
    await waitFor(
      async () =>
        (await metricValue(metrics.recordsDropped, {
          reason: "rejected_400",
        })) === 1,
    );
    expect(await metricValue(metrics.records, { outcome: "shipped" })).toBe(5);
  });

  it("bounds memory: records past memoryMax are dropped and counted", async () => {
    await loki.fail("down");
    const pipeline = start({ memoryMax: 100, batchMaxRecords: 10 });
    const records = Array.from({ length: 300 }, () => record());
    for (const r of records) pipeline.enqueue(r);
    const dropped = await metricValue(metrics.recordsDropped, {
      reason: "memory_full",
    });
    expect(dropped).toBeGreaterThanOrEqual(190);
    expect(dropped).toBeLessThanOrEqual(200);
    await waitFor(
      async () => (await metricValue(metrics.outboxDepth)) === 300 - dropped,
    );
    await loki.setMode({ kind: "ok" });
    await waitFor(() => loki.entries().length === 300 - dropped, {
      timeoutMs: 5000,
    });
    await waitFor(
      async () =>
        (await metricValue(metrics.records, { outcome: "shipped" })) ===
        300 - dropped,
    );
    await waitFor(async () => (await metricValue(metrics.outboxDepth)) === 0);
  });

  it("reports the outbox depth and the age of the oldest waiting record", async () => {
    await loki.fail("down");
    const pipeline = start();
    for (let i = 0; i < 10; i++) pipeline.enqueue(record());
    await sleep(1100);
    await waitFor(async () => (await metricValue(metrics.outboxDepth)) === 10);
    expect(await metricValue(metrics.outboxOldestAge)).toBeGreaterThanOrEqual(
      1,
    );
    await loki.setMode({ kind: "ok" });
    await waitFor(async () => (await metricValue(metrics.outboxDepth)) === 0, {
      timeoutMs: 5000,
    });
    expect(await metricValue(metrics.outboxOldestAge)).toBe(0);
  });

  it("flush on shutdown ships what is queued without waiting for batches to fill", async () => {
    const pipeline = start({ batchWaitMs: 60_000, batchMaxRecords: 10_000 });
    const records = Array.from({ length: 50 }, () => record());
    for (const r of records) pipeline.enqueue(r);
    const started = Date.now();
    await pipeline.flush(30_000);
    // Shipped at once, not when the deadline (30 s) or the batch wait (60 s) ran out.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(
      missing(
        loki,
        records.map((r) => r.requestId),
      ),
    ).toEqual([]);
  });

  it("flush returns by its deadline when Loki is down, and close counts the loss", async () => {
    await loki.fail("down");
    const pipeline = start();
    for (let i = 0; i < 5; i++) pipeline.enqueue(record());
    const started = Date.now();
    await pipeline.flush(500);
    // By its deadline, not when Loki comes back (never, here).
    expect(Date.now() - started).toBeLessThan(5000);
    await pipeline.close();
    expect(
      await metricValue(metrics.recordsDropped, { reason: "shutdown" }),
    ).toBe(5);
  });

  it("drops a record over Loki's line limit (bytes, not characters) before it is queued, and ships the rest", async () => {
    const pipeline = start({ maxLineBytes: 100 });
    // 48 characters, 88 bytes: under the limit. 68 characters, 128 bytes: over it.
    const small = { ...record(), line: JSON.stringify({ p: "é".repeat(40) }) };
    const large = { ...record(), line: JSON.stringify({ p: "é".repeat(60) }) };
    const fits = { ...record(), line: '{"ok":1}' };
    pipeline.enqueue(small);
    pipeline.enqueue(large);
    pipeline.enqueue(fits);
    await waitFor(
      async () =>
        (await metricValue(metrics.records, { outcome: "shipped" })) === 2,
    );
    expect(
      await metricValue(metrics.recordsDropped, { reason: "too_large" }),
    ).toBe(1);
    expect(loki.entries().map((e) => e.line)).toEqual([small.line, fits.line]);
  });

  it("enqueue never throws, whatever it is given", () => {
    const pipeline = start();
    expect(() => {
      pipeline.enqueue({ timeMs: Number.NaN, requestId: "x", line: "{}" });
      pipeline.enqueue(null as unknown as ReturnType<typeof record>);
      pipeline.enqueue({ timeMs: 1, requestId: "y" } as unknown as ReturnType<
        typeof record
      >);
    }).not.toThrow();
  });
});

describe("no Loki configured", () => {
  it("writes each record line to stdout, one line each", async () => {
    const lines: string[] = [];
    const pipeline = createAnalyticsPipeline(
      pipelineOptions({ lokiUrl: undefined }),
      {
        metrics,
        logger,
        stdout: (line) => lines.push(line),
      },
    );
    pipelines.push(pipeline);
    const records = [record(), record(), record()];
    for (const r of records) pipeline.enqueue(r);
    expect(lines).toEqual(records.map((r) => r.line));
    expect(await metricValue(metrics.records, { outcome: "shipped" })).toBe(3);
    await pipeline.flush(100);
    expect(loki.pushes).toHaveLength(0);
  });
});
