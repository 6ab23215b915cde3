// Analytics records as seen from the request thread when they go to Loki: record() collects finished exchanges
// and posts them every 25 ms in one message to a worker thread (analytics-worker.ts) that builds the records
// (categories, redaction, JSON) and runs the outbox and the shipper. Measured: on the request thread, building and
// delivering records cost a quarter of its throughput; moved here, /api/tags went from 3,544 to 5,134 req/s
// (docs/performance.md).
//
// Loss: exchanges posted but not yet in the outbox die with the thread, as the outbox's own local buffer does
// (counted as thread_exit when the thread exits on its own). A thread that exits unexpectedly is restarted; in
// Redis mode it resumes its pending entries under the same consumer name.
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { relayLogLine, type Logger } from "../logger.ts";
import type { Config } from "../config.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { MetricsJson } from "../metrics/sources.ts";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import { countDropped } from "../delivery/outbox.ts";
import type {
  AnalyticsPipeline,
  AnalyticsPipelineOptions,
} from "../delivery/pipeline.ts";
import type { SpanExportData } from "../tracing/span-export.ts";
import type { Recorder } from "./recorder.ts";

export interface AnalyticsWorkerData {
  readonly config: Config;
  readonly pipeline: AnalyticsPipelineOptions;
  readonly clientLabel: boolean;
  /** Tracing on: the thread exports each exchange's span too. */
  readonly tracing?: SpanExportData | undefined;
}

export interface Exchange {
  readonly summary: ExchangeSummary;
  readonly costUsd: number | undefined;
}

export type AnalyticsRequest =
  | { readonly type: "exchanges"; readonly exchanges: Exchange[] }
  | { readonly type: "metrics"; readonly id: number }
  | { readonly type: "flush"; readonly id: number; readonly timeoutMs: number }
  | { readonly type: "close"; readonly id: number };

/** From the thread: an answer to a request, one of its log lines, or how many exchanges it has taken in. */
export type AnalyticsMessage =
  | { readonly id: number; readonly value?: unknown }
  | { readonly log: string }
  | { readonly consumed: number };

export interface AnalyticsThread
  extends Recorder, Omit<AnalyticsPipeline, "enqueue"> {
  /** The analytics thread's metrics, or undefined when it does not answer within `timeoutMs`. */
  metricsJson(timeoutMs: number): Promise<MetricsJson | undefined>;
}

export interface AnalyticsThreadDeps {
  /** Counts records dropped on this side (the thread gone and the hand-over buffer full). */
  metrics: Metrics;
  logger: Logger;
  /** Starts the thread; tests wrap it to stop threads from outside. */
  spawn?: (url: URL, options: WorkerOptions) => Worker;
}

/** The thread's nice value (Linux): records can wait a few milliseconds, forwarding should not. */
export const ANALYTICS_THREAD_NICE = 10;
const RESTART_DELAY_MS = { first: 100, max: 10_000 };
/**
 * Exchanges are handed over every `intervalMs` or every `records`, whichever comes first: each hand-over wakes
 * the thread, and through it Redis and Loki; per request, those wake-ups took CPU from forwarding.
 */
const HAND_OVER = { intervalMs: 25, records: 256 };

// Type stripping runs the sources as .ts, the image runs the build as .js: the worker file has the same suffix.
const WORKER_URL = new URL(
  `./analytics-worker${extname(fileURLToPath(import.meta.url))}`,
  import.meta.url,
);

export function startAnalyticsThread(
  data: AnalyticsWorkerData,
  deps: AnalyticsThreadDeps,
): AnalyticsThread {
  const logger = deps.logger.child({ component: "analytics" });
  /**
   * Bounds what waits for the thread, here and in its message queue (a thread starved of CPU must not grow the
   * process without bound): beyond it, records are dropped and counted.
   */
  const handOverMax = data.pipeline.memoryMax;
  let pending: Exchange[] = [];
  /** Exchanges posted that the thread has not yet taken in. */
  let posted = 0;
  const showBacklog = () =>
    deps.metrics.analyticsBacklog.set(pending.length + posted);
  let worker: Worker | undefined;
  let closing = false;
  let restartDelayMs = RESTART_DELAY_MS.first;
  let nextId = 1;
  const waiting = new Map<number, (value: unknown) => void>();

  const start = () => {
    const spawn = deps.spawn ?? ((url, options) => new Worker(url, options));
    const thread = spawn(WORKER_URL, {
      workerData: data,
      name: "analytics",
      // No resourceLimits: its young generation follows the process's V8 flags (the image's
      // --max-semi-space-size), which override a Worker's own limit (measured: the same scavenges with 2 or 16 MB).
    });
    // The request thread decides when the process ends (SIGTERM drains, then flush and close).
    thread.unref();
    thread.on("message", (message: AnalyticsMessage) => {
      if ("log" in message) return relayLogLine(deps.logger, message.log);
      if ("consumed" in message) {
        posted = Math.max(0, posted - message.consumed);
        showBacklog();
        return;
      }
      const settle = waiting.get(message.id);
      waiting.delete(message.id);
      settle?.(message.value);
      restartDelayMs = RESTART_DELAY_MS.first;
    });
    thread.on("error", (error) => {
      logger.error({ err: error }, "analytics thread failed");
    });
    thread.on("exit", (code) => {
      worker = undefined;
      // Whatever it had not taken in died with it.
      if (!closing) countDropped(deps.metrics, "thread_exit", posted);
      posted = 0;
      showBacklog();
      for (const settle of waiting.values()) settle(undefined);
      waiting.clear();
      if (closing) return;
      logger.error(
        { code, restart_in_ms: restartDelayMs },
        "analytics thread exited; restarting it",
      );
      setTimeout(start, restartDelayMs).unref();
      restartDelayMs = Math.min(RESTART_DELAY_MS.max, restartDelayMs * 2);
    });
    worker = thread;
    if (pending.length > 0) scheduleSend();
  };

  let sendTimer: NodeJS.Timeout | undefined;
  const send = () => {
    if (sendTimer !== undefined) clearTimeout(sendTimer);
    sendTimer = undefined;
    if (worker === undefined || pending.length === 0) return;
    const exchanges = pending;
    pending = [];
    posted += exchanges.length;
    showBacklog();
    worker.postMessage({
      type: "exchanges",
      exchanges,
    } satisfies AnalyticsRequest);
  };

  function scheduleSend(): void {
    if (pending.length >= HAND_OVER.records) return send();
    sendTimer ??= setTimeout(send, HAND_OVER.intervalMs);
  }

  const request = (
    message: AnalyticsRequest & { id: number },
    timeoutMs: number,
  ): Promise<unknown> =>
    new Promise((resolve) => {
      if (worker === undefined) return resolve(undefined);
      const timer = setTimeout(() => {
        waiting.delete(message.id);
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      waiting.set(message.id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      worker.postMessage(message);
    });

  start();

  return {
    record(summary, costUsd) {
      if (pending.length + posted >= handOverMax) {
        deps.metrics.records.inc({ outcome: "enqueued" });
        countDropped(deps.metrics, "memory_full", 1);
        return;
      }
      pending.push({ summary, costUsd });
      scheduleSend();
    },
    async metricsJson(timeoutMs) {
      const json = await request({ type: "metrics", id: nextId++ }, timeoutMs);
      return json as MetricsJson | undefined;
    },
    async flush(timeoutMs) {
      send();
      await request(
        { type: "flush", id: nextId++, timeoutMs },
        // The thread bounds the flush itself; the margin covers posting and answering.
        timeoutMs + 1000,
      );
    },
    async close() {
      closing = true;
      send();
      await request({ type: "close", id: nextId++ }, 5000);
      await worker?.terminate();
    },
  };
}
