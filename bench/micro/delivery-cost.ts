// Microbenchmark: CPU per record of the Redis delivery path in process — enqueue, the script call that writes a
// chunk to the stream, the consumer group's reads, the Loki push body and request, acknowledgements — with the
// default batch settings, against a real redis-server and the fake Loki in processes of their own (their CPU is
// not counted). Records arrive at a steady pace, as the analytics thread hands them over.
//   node bench/micro/delivery-cost.ts [response repeats: 3 ≈ a 1 KB line (default), 24 ≈ a streamed chat's 3 KB]
import { spawn } from "node:child_process";
import { setTimeout as wait } from "node:timers/promises";
import pino from "pino";
import { Registry } from "prom-client";
import { loadConfig } from "../../proxy/src/config.ts";
import { createAnalyticsPipeline } from "../../proxy/src/delivery/pipeline.ts";
import { createMetrics } from "../../proxy/src/metrics/definitions.ts";
import { freePort } from "../../test/helpers/free-port.ts";
import { startRedisServer } from "../../test/helpers/redis-server.ts";
import { time } from "./timing.ts";

const RECORDS_PER_RUN = 20_000;
const RUNS = 5;
/** Records per hand-over and the gap between hand-overs: 10,000 records/s, like the analytics thread's 25 ms. */
const STEP = { records: 250, everyMs: 25 };

const RESPONSE_REPEATS = Number(process.argv[2] ?? "3");
const words =
  "Write a function that checks whether a string is a palindrome, and explain it. ";
/** A record line shaped like the proxy's (quotes and newlines to escape). */
function line(i: number, timeMs: number): string {
  return JSON.stringify({
    time: new Date(timeMs).toISOString(),
    request_id: `bench-${i}-3f0c1c8e-1111-4222-8333`,
    client: "bench",
    model: "bench-fast:latest",
    endpoint: "/api/generate",
    status: 200,
    outcome: "ok",
    category: "coding",
    duration_ms: 12.345,
    ttft_ms: 3.21,
    prompt_tokens: 26,
    completion_tokens: 120,
    prompt: words.repeat(4),
    response:
      'Here is one:\n```python\ndef is_palindrome(s):\n    return s == s[::-1]  # "racecar"\n```\n'.repeat(
        RESPONSE_REPEATS,
      ),
    params: { temperature: 0.7, num_ctx: 2048 },
    done_reason: "stop",
  });
}

async function fakeLoki(port: number): Promise<() => void> {
  const child = spawn(
    process.execPath,
    [
      new URL("../../test/fixtures/fake-loki-main.ts", import.meta.url)
        .pathname,
    ],
    {
      env: { ...process.env, FAKE_LOKI_PORT: String(port) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise<void>((resolve) =>
    child.stdout.once("data", () => resolve()),
  );
  return () => child.kill("SIGTERM");
}

const redis = await startRedisServer({ appendonly: false });
const lokiPort = await freePort();
const stopLoki = await fakeLoki(lokiPort);
const registry = new Registry();
const metrics = createMetrics(registry);
// The shipped defaults (config.ts), wired as main.ts wires them.
const config = loadConfig({ LOKI_URL: `http://127.0.0.1:${lokiPort}` });
const pipeline = createAnalyticsPipeline(
  {
    redisUrl: redis.url,
    lokiUrl: config.loki.url,
    lokiLabels: {
      service_name: "ollama-proxy",
      log_type: "request",
      env: "bench",
    },
    streamKey: "bench:records",
    consumerGroup: "shipper",
    consumerName: "bench",
    outboxMax: config.outboxMax,
    memoryMax: config.memoryMax,
    batchMaxRecords: config.loki.batchMaxRecords,
    batchMaxBytes: config.loki.batchMaxBytes,
    batchWaitMs: config.loki.batchWaitMs,
    pushTimeoutMs: config.loki.pushTimeoutMs,
    retryBaseMs: 500,
    retryMaxMs: config.loki.retryMaxMs,
    claimIdleMs: config.claimIdleMs,
    maxLineBytes: config.loki.maxLineBytes,
  },
  { metrics, logger: pino({ level: "warn" }) },
);

const shipped = async () =>
  (await metrics.records.get()).values
    .filter((v) => v.labels.outcome === "shipped")
    .reduce((sum, v) => sum + v.value, 0);

let sequence = 0;
async function run(): Promise<number> {
  const target = (await shipped()) + RECORDS_PER_RUN;
  const before = process.cpuUsage();
  for (let sent = 0; sent < RECORDS_PER_RUN; sent += STEP.records) {
    const timeMs = Date.now();
    for (let i = 0; i < STEP.records; i++) {
      sequence += 1;
      pipeline.enqueue({
        timeMs,
        requestId: `bench-${sequence}`,
        line: line(sequence, timeMs),
      });
    }
    await wait(STEP.everyMs);
  }
  while ((await shipped()) < target) await wait(20);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / RECORDS_PER_RUN;
}

await run(); // warm-up
const runs: number[] = [];
for (let r = 0; r < RUNS; r++) runs.push(await run());
runs.sort((a, b) => a - b);
console.log(
  `${"redis outbox → Loki, CPU per record (whole process)".padEnd(52)} ${runs[2]!.toFixed(1)} µs (min ${runs[0]!.toFixed(1)})`,
);
// Building the benchmark's own lines is inside that figure; this is its share.
time(
  "  of which building the test line",
  () => line(sequence, Date.now()),
  20_000,
);
await pipeline.close();
stopLoki();
await redis.close();
