// The pipeline with the Redis Stream outbox, against a real redis-server and the fake Loki.
import { Redis } from "ioredis";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from "vitest";
import {
  createAnalyticsPipeline,
  type AnalyticsPipeline,
  type AnalyticsPipelineOptions,
} from "@proxy/delivery/pipeline.ts";
import type { Metrics } from "@proxy/metrics/definitions.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import {
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

let redis: RedisServer;
let client: Redis;
let loki: FakeLoki;
let metrics: Metrics;
const pipelines: AnalyticsPipeline[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
});

afterAll(async () => {
  await client.quit();
  await redis.close();
});

beforeEach(async () => {
  loki = await createFakeLoki();
  metrics = testMetrics();
});

afterEach(async () => {
  for (const p of pipelines.splice(0)) await p.close();
  await loki.close();
});

function start(
  options: AnalyticsPipelineOptions,
  m: Metrics = metrics,
): AnalyticsPipeline {
  const pipeline = createAnalyticsPipeline(options, { metrics: m, logger });
  pipelines.push(pipeline);
  return pipeline;
}

function redisOptions(overrides: Partial<AnalyticsPipelineOptions> = {}) {
  return pipelineOptions({
    redisUrl: redis.url,
    lokiUrl: loki.url,
    ...overrides,
  });
}

async function pendingCount(key: string, group = "shipper"): Promise<number> {
  const summary = (await client.xpending(key, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

async function commandCalls(name: string): Promise<number> {
  const info = await client.info("commandstats");
  const match = new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info);
  return Number(match?.[1] ?? 0);
}

describe("redis outbox → Loki", () => {
  it("ships each record once, batching XADDs, and leaves nothing in the stream", async () => {
    await client.config("RESETSTAT");
    const options = redisOptions();
    const pipeline = start(options);
    const records = Array.from({ length: 2000 }, () => record());
    for (const r of records) pipeline.enqueue(r);
    await waitFor(
      () =>
        missing(
          loki,
          records.map((r) => r.requestId),
        ).length === 0,
      {
        timeoutMs: 10_000,
      },
    );
    expect(duplicated(loki)).toEqual([]);
    await waitFor(async () => (await client.xlen(options.streamKey)) === 0, {
      message: "acked entries are deleted",
    });
    expect(await pendingCount(options.streamKey)).toBe(0);
    // 2000 XADDs in a handful of MULTI round trips, not 2000 of them.
    expect(await commandCalls("xadd")).toBe(2000);
    expect(await commandCalls("exec")).toBeLessThan(40);
  });

  it("writes entries in the format every version reads, and ships lines byte-exact, its own and other replicas'", async () => {
    const options = redisOptions();
    // Another replica's entry (any version: the format is shared during a rolling upgrade).
    const other = record("other");
    await client.xadd(
      options.streamKey,
      "*",
      "time_ms",
      String(other.timeMs),
      "request_id",
      other.requestId,
      "line",
      other.line,
    );
    await loki.fail("down");
    const pipeline = start(options);
    const unicode = {
      ...record(),
      line: JSON.stringify({ prompt: 'é 😀 "q" \\ \u2028 \u0001 </script>' }),
    };
    pipeline.enqueue(unicode);
    await waitFor(async () => (await client.xlen(options.streamKey)) === 2);
    const written = (
      (await client.xrange(options.streamKey, "-", "+")) as Array<
        [string, string[]]
      >
    )[1]?.[1];
    expect(written).toEqual([
      "time_ms",
      String(unicode.timeMs),
      "request_id",
      unicode.requestId,
      "line",
      unicode.line,
    ]);
    await loki.setMode({ kind: "ok" });
    await waitFor(() => loki.entries().length === 2);
    expect(
      loki
        .entries()
        .map((e) => e.line)
        .sort(),
    ).toEqual([other.line, unicode.line].sort());
    expect(
      await metricValue(metrics.recordsDropped, { reason: "malformed" }),
    ).toBe(0);
  });

  it("keeps records in Redis through a multi-second Loki outage under continuous traffic; all arrive once", async () => {
    const options = redisOptions();
    const pipeline = start(options);
    const load = continuousEnqueue(pipeline, { intervalMs: 10, perTick: 5 });
    await sleep(300);
    await loki.fail("down");
    await sleep(2000);
    expect(await client.xlen(options.streamKey)).toBeGreaterThan(100);
    await waitFor(async () => (await metricValue(metrics.outboxDepth)) > 100);
    await sleep(3000);
    await loki.setMode({ kind: "ok" });
    await sleep(300);
    load.stop();
    await waitFor(() => missing(loki, load.ids).length === 0, {
      timeoutMs: 15_000,
      message: "every record after a 5 s outage",
    });
    expect(duplicated(loki)).toEqual([]);
    expect(load.throws).toBe(0);
    expect(load.maxEnqueueMs).toBeLessThan(50);
    await waitFor(async () => (await client.xlen(options.streamKey)) === 0);
  });

  it("two pipelines on one stream deliver each record once", async () => {
    const shared = redisOptions({ batchMaxRecords: 20 });
    const a = start({ ...shared, consumerName: "replica-a" });
    const b = start({ ...shared, consumerName: "replica-b" });
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const r = record();
      ids.push(r.requestId);
      (i % 2 === 0 ? a : b).enqueue(r);
      if (i % 100 === 0) await sleep(5);
    }
    await waitFor(() => missing(loki, ids).length === 0, { timeoutMs: 10_000 });
    expect(duplicated(loki)).toEqual([]);
    expect(loki.entries()).toHaveLength(1000);
    await waitFor(async () => (await client.xlen(shared.streamKey)) === 0);
  });

  it("a dead consumer's pending entries are claimed by another after claimIdleMs", async () => {
    await loki.fail("down");
    const shared = redisOptions({ claimIdleMs: 800, batchMaxRecords: 50 });
    const dying = start({ ...shared, consumerName: "dying" });
    const records = Array.from({ length: 300 }, () => record());
    for (const r of records) dying.enqueue(r);
    await waitFor(async () => (await client.xlen(shared.streamKey)) === 300);
    await waitFor(async () => (await pendingCount(shared.streamKey)) > 0, {
      message: "the dying consumer holds a batch",
    });
    // Dropped without flush or ack: what a crash leaves behind in Redis.
    await dying.close();
    const held = await pendingCount(shared.streamKey);
    expect(held).toBeGreaterThan(0);

    await loki.setMode({ kind: "ok" });
    const survivorMetrics = testMetrics();
    start({ ...shared, consumerName: "survivor" }, survivorMetrics);
    await waitFor(
      () =>
        missing(
          loki,
          records.map((r) => r.requestId),
        ).length === 0,
      {
        timeoutMs: 10_000,
      },
    );
    expect(duplicated(loki)).toEqual([]);
    await waitFor(async () => (await pendingCount(shared.streamKey)) === 0);
    const consumers = (await client.xinfo(
      "CONSUMERS",
      shared.streamKey,
      "shipper",
    )) as unknown[][];
    const dyingInfo = consumers.find((c) => c[1] === "dying");
    expect(dyingInfo?.[3]).toBe(0); // nothing left pending on the dead consumer
  });

  it("a restarted replica with the same consumer name resumes its own pending entries at once", async () => {
    await loki.fail("down");
    const options = redisOptions({ claimIdleMs: 600_000 });
    const first = start(options);
    const records = Array.from({ length: 100 }, () => record());
    for (const r of records) first.enqueue(r);
    await waitFor(async () => (await pendingCount(options.streamKey)) > 0);
    await first.close();
    await loki.setMode({ kind: "ok" });
    start(options);
    // claimIdleMs is 10 minutes: only reading its own pending list can deliver these quickly.
    await waitFor(
      () =>
        missing(
          loki,
          records.map((r) => r.requestId),
        ).length === 0,
      {
        timeoutMs: 5000,
      },
    );
    expect(duplicated(loki)).toEqual([]);
  });

  it("flush on shutdown moves buffered records into Redis", async () => {
    await loki.fail("down");
    const options = redisOptions();
    const pipeline = start(options);
    const records = Array.from({ length: 3000 }, () => record());
    for (const r of records) pipeline.enqueue(r);
    await pipeline.flush(3000);
    expect(await client.xlen(options.streamKey)).toBe(3000);
    await pipeline.close();
    expect(
      await metricValue(metrics.recordsDropped, { reason: "shutdown" }),
    ).toBe(0);
  });

  it("keeps records buffered while Redis refuses writes (maxmemory), then ships each once", async () => {
    const options = redisOptions();
    const pipeline = start(options);
    await client.config("SET", "maxmemory", "1");
    const ids: string[] = [];
    try {
      for (let i = 0; i < 50; i++) {
        const next = record("oom");
        ids.push(next.requestId);
        pipeline.enqueue(next);
      }
      await sleep(500);
      // Refused whole: no entry of a refused batch is in the stream, none is counted lost.
      expect(await client.xlen(options.streamKey)).toBe(0);
      expect(loki.entries()).toHaveLength(0);
      expect(await metricValue(metrics.records, { outcome: "dropped" })).toBe(
        0,
      );
    } finally {
      await client.config("SET", "maxmemory", "0");
    }
    await waitFor(() => missing(loki, ids).length === 0, { timeoutMs: 10_000 });
    expect(duplicated(loki)).toEqual([]);
  });

  it("counts records MAXLEN trimmed before they were shipped", async () => {
    await loki.fail("down");
    const options = redisOptions({ outboxMax: 100 });
    const pipeline = start(options);
    for (let i = 0; i < 1000; i++) pipeline.enqueue(record());
    await waitFor(
      async () =>
        (await metricValue(metrics.recordsDropped, {
          reason: "outbox_trimmed",
        })) > 0,
    );
    await pipeline.flush(2000);
    const trimmed = await metricValue(metrics.recordsDropped, {
      reason: "outbox_trimmed",
    });
    const length = await client.xlen(options.streamKey);
    // Approximate MAXLEN: Redis trims whole macro nodes, so somewhat more than outboxMax may stay.
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(400);
    expect(trimmed).toBe(1000 - length);
  });
});

describe("redis outages", () => {
  let own: RedisServer;

  beforeEach(async () => {
    own = await startRedisServer({ appendonly: true });
  });

  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.close();
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await own.close();
  });

  it("redis killed and restarted under continuous enqueue: enqueue stays synchronous, records still arrive", async () => {
    const options = pipelineOptions({ redisUrl: own.url, lokiUrl: loki.url });
    const pipeline = start(options);
    const load = continuousEnqueue(pipeline, { intervalMs: 5, perTick: 5 });
    await sleep(300);
    await own.kill("SIGKILL");
    const beforeKill = new Set(load.ids);
    await sleep(1500);
    await own.restart();
    await sleep(500);
    load.stop();
    await waitFor(() => missing(loki, load.ids).length === 0, {
      timeoutMs: 15_000,
      message: "records enqueued around a Redis crash",
    });
    expect(load.throws).toBe(0);
    // enqueue() only appends to a bounded array: it never waits on a socket.
    expect(load.maxEnqueueMs).toBeLessThan(50);
    // At-least-once across a Redis crash: the writes of the seconds before it that are no longer in the stream
    // (lost with the process, or shipped already) are written again, and a batch whose reply was lost may be
    // written twice. Loki drops the exact duplicates (same timestamp and line); none is a record from after.
    expect(duplicated(loki).filter((id) => !beforeKill.has(id))).toEqual([]);
  });

  /**
   * 500 records written to `server` while Loki is down, Redis killed and restarted, Loki back: resolves when every
   * record has arrived, with a client of the restarted Redis and the stream's key.
   */
  async function throughRedisRestart(server: RedisServer, prefix: string) {
    const direct = new Redis(server.url);
    direct.on("error", () => undefined);
    cleanups.push(async () => {
      direct.disconnect();
      await server.close();
    });
    const options = pipelineOptions({
      redisUrl: server.url,
      lokiUrl: loki.url,
      // The default window (5 s) measured from the disconnect; a stalled test machine must not end it here.
      rewriteWindowMs: 120_000,
    });
    await loki.fail("down");
    const pipeline = start(options);
    const records = Array.from({ length: 500 }, () => record(prefix));
    for (const r of records) pipeline.enqueue(r);
    await waitFor(async () => (await direct.xlen(options.streamKey)) === 500);
    await server.kill("SIGKILL");
    await server.restart();
    await loki.setMode({ kind: "ok" });
    const ids = records.map((r) => r.requestId);
    await waitFor(() => missing(loki, ids).length === 0, {
      timeoutMs: 15_000,
      message: `records written before a Redis restart (${prefix})`,
    });
    return { direct, key: options.streamKey };
  }

  // Redis acknowledges an XADD before its append-only file has it (appendfsync everysec postpones the write while
  // an fsync runs), so a Redis killed on a busy disk comes back without records it acknowledged. A Redis without
  // persistence stands in for that here: it comes back without any.
  it("writes again the records a Redis that came back without them had acknowledged", async () => {
    await throughRedisRestart(
      await startRedisServer({ appendonly: false }),
      "lost",
    );
  });

  it("writes nothing again when Redis comes back with every record it acknowledged", async () => {
    const { direct, key } = await throughRedisRestart(
      await startRedisServer({
        appendonly: true,
        args: ["--appendfsync", "always"],
      }),
      "kept",
    );
    await waitFor(async () => (await direct.xlen(key)) === 0);
    expect(duplicated(loki)).toEqual([]);
  });

  it("buffers in memory while Redis is unreachable at startup, then moves records over", async () => {
    await own.kill("SIGKILL");
    const pipeline = start(
      pipelineOptions({ redisUrl: own.url, lokiUrl: loki.url, memoryMax: 100 }),
    );
    const records = Array.from({ length: 150 }, () => record());
    // enqueue is synchronous: the drops are counted before anything could have waited on Redis.
    for (const r of records) expect(pipeline.enqueue(r)).toBeUndefined();
    expect(
      await metricValue(metrics.recordsDropped, { reason: "memory_full" }),
    ).toBe(50);
    await sleep(300);
    await own.restart();
    const kept = records.slice(0, 100).map((r) => r.requestId);
    await waitFor(() => missing(loki, kept).length === 0, {
      timeoutMs: 10_000,
    });
    expect(loki.entries()).toHaveLength(100);
  });

  it("flush with Redis down returns by its deadline and close counts the records as lost", async () => {
    await own.kill("SIGKILL");
    const pipeline = start(
      pipelineOptions({ redisUrl: own.url, lokiUrl: loki.url }),
    );
    for (let i = 0; i < 10; i++) pipeline.enqueue(record());
    const started = Date.now();
    await pipeline.flush(400);
    // By its deadline, not when Redis comes back (never, here).
    expect(Date.now() - started).toBeLessThan(5000);
    await pipeline.close();
    expect(
      await metricValue(metrics.recordsDropped, { reason: "shutdown" }),
    ).toBe(10);
  });
});
