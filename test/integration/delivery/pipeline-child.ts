// A proxy stand-in for the crash test: runs the analytics pipeline in its own process and enqueues records until
// it is killed. Env: REDIS_URL, LOKI_URL, STREAM_KEY, CONSUMER_NAME, PREFIX.
import { pino } from "pino";
import { Registry } from "prom-client";
import { createAnalyticsPipeline } from "../../../proxy/src/delivery/pipeline.ts";
import { createMetrics } from "../../../proxy/src/metrics/definitions.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};

const pipeline = createAnalyticsPipeline(
  {
    redisUrl: env("REDIS_URL"),
    lokiUrl: env("LOKI_URL"),
    lokiLabels: {
      service_name: "ollama-proxy",
      log_type: "request",
      env: "test",
    },
    streamKey: env("STREAM_KEY"),
    consumerGroup: "shipper",
    consumerName: env("CONSUMER_NAME"),
    outboxMax: 1_000_000,
    memoryMax: 100_000,
    batchMaxRecords: 100,
    batchMaxBytes: 1 << 20,
    batchWaitMs: 50,
    pushTimeoutMs: 1000,
    retryBaseMs: 20,
    retryMaxMs: 200,
    claimIdleMs: 60_000,
  },
  {
    metrics: createMetrics(new Registry()),
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }),
  },
);

const prefix = env("PREFIX");
let seq = 0;
setInterval(() => {
  for (let i = 0; i < 5; i++) {
    seq += 1;
    const requestId = `${prefix}-${seq}`;
    const timeMs = Date.now();
    pipeline.enqueue({
      timeMs,
      requestId,
      line: JSON.stringify({
        time: timeMs,
        request_id: requestId,
        endpoint: "/api/generate",
      }),
    });
  }
}, 5);
process.stdout.write("started\n");
