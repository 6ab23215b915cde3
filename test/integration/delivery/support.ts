// Shared pieces of the analytics pipeline integration tests: options, record generators, metric reads.
import { pino } from "pino";
import { Registry } from "prom-client";
import type { RecordEnvelope } from "@proxy/delivery/envelope.ts";
import type {
  AnalyticsPipeline,
  AnalyticsPipelineOptions,
} from "@proxy/delivery/pipeline.ts";
import { createMetrics, type Metrics } from "@proxy/metrics/definitions.ts";
import type { FakeLoki } from "../../fixtures/fake-loki.ts";

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export function testMetrics(): Metrics {
  return createMetrics(new Registry());
}

let streamSeq = 0;

/** Options sized for tests: small batches, short waits and backoff; a fresh stream key each call. */
export function pipelineOptions(
  overrides: Partial<AnalyticsPipelineOptions> = {},
): AnalyticsPipelineOptions {
  streamSeq += 1;
  return {
    lokiLabels: {
      service_name: "ollama-proxy",
      log_type: "request",
      env: "test",
    },
    streamKey: `test:records:${process.pid}:${streamSeq}`,
    consumerGroup: "shipper",
    consumerName: `test-${process.pid}-${streamSeq}`,
    outboxMax: 1_000_000,
    memoryMax: 100_000,
    batchMaxRecords: 200,
    batchMaxBytes: 1 << 20,
    batchWaitMs: 50,
    pushTimeoutMs: 2000,
    retryBaseMs: 20,
    retryMaxMs: 300,
    claimIdleMs: 60_000,
    statsIntervalMs: 100,
    ...overrides,
  };
}

let recordSeq = 0;

/** A record shaped like the proxy's: compact JSON with a unique request_id. */
export function record(prefix = "req"): RecordEnvelope {
  recordSeq += 1;
  const requestId = `${prefix}-${recordSeq}`;
  const timeMs = Date.now();
  return {
    timeMs,
    requestId,
    line: JSON.stringify({
      time: timeMs,
      request_id: requestId,
      endpoint: "/api/chat",
      model: "llama3.2:3b",
      status: 200,
      prompt: "why is the sky blue?",
    }),
  };
}

/** request_id → number of stored copies (raw, duplicates included). */
export function arrivals(loki: FakeLoki): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of loki.entries()) {
    const id = (entry.parsed as { request_id?: string } | undefined)
      ?.request_id;
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

export function missing(loki: FakeLoki, ids: Iterable<string>): string[] {
  const seen = arrivals(loki);
  return [...ids].filter((id) => !seen.has(id));
}

export function duplicated(loki: FakeLoki): string[] {
  return [...arrivals(loki)].filter(([, n]) => n > 1).map(([id]) => id);
}

/** Sum of a counter's or gauge's samples matching `labels`; for a histogram, its observation count. */
export async function metricValue(
  metric: {
    get(): Promise<{
      values: Array<{
        value: number;
        metricName?: string;
        labels: Partial<Record<string, string | number>>;
      }>;
    }>;
  },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  const isHistogram = values.some((v) => v.metricName?.endsWith("_bucket"));
  return values
    .filter((v) => !isHistogram || v.metricName?.endsWith("_count"))
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
    )
    .reduce((sum, v) => sum + v.value, 0);
}

/**
 * Enqueues `perTick` records every `intervalMs` until stopped, timing every enqueue() call: the request path must
 * never wait on Redis or Loki.
 */
export function continuousEnqueue(
  pipeline: AnalyticsPipeline,
  options: { intervalMs?: number; perTick?: number; prefix?: string } = {},
) {
  const ids: string[] = [];
  let maxEnqueueMs = 0;
  let throws = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < (options.perTick ?? 5); i++) {
      const r = record(options.prefix);
      const started = performance.now();
      try {
        pipeline.enqueue(r);
      } catch {
        throws += 1;
      }
      maxEnqueueMs = Math.max(maxEnqueueMs, performance.now() - started);
      ids.push(r.requestId);
    }
  }, options.intervalMs ?? 10);
  return {
    ids,
    stop: () => clearInterval(timer),
    get maxEnqueueMs() {
      return maxEnqueueMs;
    },
    get throws() {
      return throws;
    },
  };
}

export const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));
