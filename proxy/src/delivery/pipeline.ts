// Wires the analytics delivery path: enqueue → outbox (Redis Stream or bounded memory) → shipper → Loki push API,
// or straight to stdout when no Loki is configured. Updates the outbox gauges. The request path only ever calls
// enqueue(), which is synchronous, bounded and never throws.
//
// Delivery guarantees:
// - Redis mode: at-least-once. A record is in Redis once its XADD batch is acknowledged (the local buffer before
//   that, and the main thread's hand-over of at most 25 ms in analytics-thread.ts, is lost on a crash). Entries are XACKed and XDELed only after Loki answered 2xx (or refused them with 400).
//   A crash between a 2xx and the ack re-ships those entries later; that is harmless because Loki ignores an entry
//   whose timestamp and line equal one already in the stream (pkg/chunkenc/unordered.go) and queries merge such
//   duplicates (pkg/iter heapIterator), and the timestamp and line are fixed at enqueue time.
// - Memory mode: records still queued or being retried are lost if the process dies.
import type { Logger } from "pino";
import type { Metrics } from "../metrics/definitions.ts";
import { lokiPushUrl, pushToLoki } from "./loki-push.ts";
import { createMemoryOutbox } from "./memory-outbox.ts";
import { countDropped, type Outbox } from "./outbox.ts";
import { createRedisOutbox } from "./redis-outbox.ts";
import type { RecordEnvelope } from "./envelope.ts";
import { createShipper } from "./shipper.ts";

export interface AnalyticsPipelineOptions {
  /** Unset → in-memory outbox. */
  redisUrl?: string;
  /** Unset → no shipping: each record line is written to stdout. */
  lokiUrl?: string;
  lokiLabels: Record<string, string>;
  lokiHeaders?: Record<string, string>;
  streamKey: string;
  consumerGroup: string;
  /** Unique per replica (hostname-pid). */
  consumerName: string;
  /** Approximate MAXLEN of the Redis stream (ANALYTICS_OUTBOX_MAX). */
  outboxMax: number;
  /** Bound of the in-memory queue (memory mode) or of the buffer in front of Redis (Redis mode). */
  memoryMax: number;
  batchMaxRecords: number;
  batchMaxBytes: number;
  batchWaitMs: number;
  pushTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Pending Redis entries idle longer than this are claimed from other consumers (a dead replica's). */
  claimIdleMs: number;
  /** How often outboxDepth / outboxOldestAge are refreshed (default 5000 ms). */
  statsIntervalMs?: number;
  /** Lines above this are dropped as too_large (default 256 KiB, Loki's default max_line_size). */
  maxLineBytes?: number;
  /** Redis mode: writes this long before losing Redis are written again if it comes back without them (default
   * 5 s, recent-writes.ts). */
  rewriteWindowMs?: number;
}

export interface AnalyticsPipeline {
  /** Synchronous, bounded; never throws and never waits on Redis or Loki. */
  enqueue(record: RecordEnvelope): void;
  /**
   * Shutdown step (SIGTERM): Redis mode moves buffered records into Redis; memory mode ships them to Loki. Shipping
   * stops afterwards. Resolves within `timeoutMs`.
   */
  flush(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface AnalyticsPipelineDeps {
  metrics: Metrics;
  logger: Logger;
  /** Where records go when lokiUrl is unset; default: process.stdout, one line each. */
  stdout?: (line: string) => void;
}

export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;
const DEFAULT_STATS_INTERVAL_MS = 5000;

export function createAnalyticsPipeline(
  options: AnalyticsPipelineOptions,
  deps: AnalyticsPipelineDeps,
): AnalyticsPipeline {
  const logger = deps.logger.child({ component: "analytics" });
  if (options.lokiUrl === undefined || options.lokiUrl === "") {
    if (options.redisUrl)
      logger.info(
        "LOKI_URL is unset: analytics records go to stdout; the Redis outbox is not used",
      );
    return createStdoutPipeline(deps.metrics, logger, deps.stdout);
  }
  return createShippingPipeline(
    { ...options, lokiUrl: options.lokiUrl },
    deps.metrics,
    logger,
  );
}

function createStdoutPipeline(
  metrics: Metrics,
  logger: Logger,
  stdout: ((line: string) => void) | undefined,
): AnalyticsPipeline {
  const write =
    stdout ??
    ((line: string) => {
      process.stdout.write(`${line}\n`);
    });
  let warned = false;
  return {
    enqueue(record) {
      metrics.records.inc({ outcome: "enqueued" });
      try {
        write(record.line);
        metrics.records.inc({ outcome: "shipped" });
      } catch (error) {
        countDropped(metrics, "stdout_error", 1);
        if (!warned) {
          warned = true;
          logger.warn(
            { err: error },
            "writing an analytics record to stdout failed",
          );
        }
      }
    },
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

function createShippingPipeline(
  options: AnalyticsPipelineOptions & { lokiUrl: string },
  metrics: Metrics,
  logger: Logger,
): AnalyticsPipeline {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const outbox: Outbox = options.redisUrl
    ? createRedisOutbox(
        {
          redisUrl: options.redisUrl,
          streamKey: options.streamKey,
          consumerGroup: options.consumerGroup,
          consumerName: options.consumerName,
          outboxMax: options.outboxMax,
          memoryMax: options.memoryMax,
          claimIdleMs: options.claimIdleMs,
          rewriteWindowMs: options.rewriteWindowMs,
        },
        { metrics, logger },
      )
    : createMemoryOutbox({ memoryMax: options.memoryMax }, { metrics });

  const pushUrl = lokiPushUrl(options.lokiUrl);
  const headers = options.lokiHeaders ?? {};
  const shipper = createShipper(
    {
      labels: options.lokiLabels,
      batchMaxRecords: options.batchMaxRecords,
      batchMaxBytes: options.batchMaxBytes,
      batchWaitMs: options.batchWaitMs,
      retryBaseMs: options.retryBaseMs,
      retryMaxMs: options.retryMaxMs,
      keepAliveIntervalMs: Math.max(100, Math.floor(options.claimIdleMs / 3)),
    },
    {
      outbox,
      push: (body, signal) =>
        pushToLoki({
          url: pushUrl,
          headers,
          body,
          timeoutMs: options.pushTimeoutMs,
          signal,
        }),
      metrics,
      logger,
    },
  );
  shipper.start();
  logger.info(
    {
      outbox: outbox.kind,
      loki: pushUrl,
      stream: options.redisUrl ? options.streamKey : undefined,
      consumer: options.redisUrl ? options.consumerName : undefined,
    },
    outbox.kind === "redis"
      ? "analytics records go to Loki through the Redis outbox"
      : "analytics records go to Loki through an in-memory queue (lost if the process dies)",
  );

  let statsRunning = false;
  const updateStats = async () => {
    if (statsRunning) return;
    statsRunning = true;
    try {
      const stats = await outbox.stats();
      metrics.outboxDepth.set(stats.depth);
      metrics.outboxOldestAge.set(
        stats.oldestTimeMs === undefined
          ? 0
          : Math.max(0, (Date.now() - stats.oldestTimeMs) / 1000),
      );
    } catch (error) {
      logger.debug({ err: error }, "outbox stats failed");
    } finally {
      statsRunning = false;
    }
  };
  const statsTimer = setInterval(
    () => void updateStats(),
    options.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS,
  );
  statsTimer.unref();
  void updateStats();

  let flushed: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  let enqueueWarned = false;

  return {
    enqueue(record) {
      try {
        metrics.records.inc({ outcome: "enqueued" });
        if (typeof record.line !== "string") {
          countDropped(metrics, "malformed", 1);
          return;
        }
        if (
          record.line.length > maxLineBytes / 3 &&
          Buffer.byteLength(record.line) > maxLineBytes
        ) {
          countDropped(metrics, "too_large", 1);
          logger.warn(
            { requestId: record.requestId, maxLineBytes },
            "analytics record over Loki's line limit; dropped",
          );
          return;
        }
        // A record without a usable time would be refused by Loki (too old); stamp it now instead.
        outbox.enqueue(
          Number.isFinite(record.timeMs) && record.timeMs > 0
            ? record
            : { ...record, timeMs: Date.now() },
        );
      } catch (error) {
        countDropped(metrics, "malformed", 1);
        if (!enqueueWarned) {
          enqueueWarned = true;
          logger.error({ err: error }, "analytics enqueue failed");
        }
      }
    },
    flush(timeoutMs) {
      flushed ??= (async () => {
        const deadline = Date.now() + Math.max(0, timeoutMs);
        if (outbox.kind === "memory") {
          await shipper.drain(deadline);
          await shipper.stop(Math.max(0, deadline - Date.now()));
        } else {
          await Promise.all([
            outbox.flush(deadline),
            shipper.stop(Math.max(0, deadline - Date.now())),
          ]);
        }
        await updateStats();
        const left = outbox.localCount();
        if (left > 0)
          logger.warn(
            { records: left, outbox: outbox.kind },
            outbox.kind === "redis"
              ? "flush timed out: records not yet in Redis"
              : "flush timed out: records not yet shipped to Loki",
          );
      })();
      return flushed;
    },
    close() {
      closed ??= (async () => {
        clearInterval(statsTimer);
        await shipper.stop(0);
        await outbox.close();
      })();
      return closed;
    },
  };
}
