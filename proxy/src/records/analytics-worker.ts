// Entry of the analytics thread (started by analytics-thread.ts): records are built and delivered here (and,
// tracing on, spans built and exported), on an event loop of their own, so that categorising, redacting, serialising, Redis writes, stream reads and push
// batches use the second core instead of the one that forwards requests. Its metrics live in a registry of its
// own that the main thread sums into /metrics on each scrape.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import { createRelayLogger, type Logger } from "../logger.ts";
import { createMetrics } from "../metrics/definitions.ts";
import {
  ANALYTICS_THREAD_NICE,
  type AnalyticsMessage,
  type AnalyticsRequest,
  type AnalyticsWorkerData,
} from "./analytics-thread.ts";
import { categorizePrompt } from "./category.ts";
import { createAnalyticsPipeline } from "../delivery/pipeline.ts";
import { createRecorder } from "./recorder.ts";

/**
 * Lowers this thread's scheduling priority, so that when every core is busy the kernel runs forwarding first and
 * records wait. Nice, not SCHED_IDLE: an idle thread would take ~15 µs less of tracing's p50 on two cores, but gets
 * no CPU at all while other processes (a CPU-bound Ollama) keep every core busy, and could not leave SCHED_IDLE
 * unprivileged to catch up (bench/records-under-load.ts; docs/performance.md). Linux keeps a nice value per
 * thread; /proc/thread-self names this one. Elsewhere the thread keeps the process's priority.
 */
function yieldToForwarding(logger: Logger): void {
  try {
    const threadId = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(threadId) && threadId > 0)
      setPriority(threadId, ANALYTICS_THREAD_NICE);
  } catch (error) {
    logger.debug(
      { err: error },
      "could not lower the analytics thread's priority",
    );
  }
}

async function run(port: NonNullable<typeof parentPort>): Promise<void> {
  const data = workerData as AnalyticsWorkerData;
  const registry = new Registry();
  const metrics = createMetrics(registry, {
    clientLabel: data.clientLabel,
    processMetrics: false,
  });
  const logger = createRelayLogger(data.config.logLevel, (line) =>
    port.postMessage({ log: line } satisfies AnalyticsMessage),
  ).child({ thread: "analytics" });
  yieldToForwarding(logger);
  const pipeline = createAnalyticsPipeline(data.pipeline, { metrics, logger });
  // Loaded only with tracing on, like the request thread's part (main.ts). Exchanges posted meanwhile wait in the
  // port: it delivers nothing until the listener below is attached.
  const spans =
    data.tracing &&
    (await import("../tracing/span-export.ts")).spanExportOf(
      data.tracing,
      data.config,
      metrics,
      logger,
    );
  const recorder = createRecorder(data.config, {
    metrics,
    logger,
    enqueue: (envelope) => pipeline.enqueue(envelope),
    categorize: categorizePrompt,
  });

  const reply = (id: number, value?: unknown) =>
    port.postMessage({ id, value } satisfies AnalyticsMessage);
  port.on("message", (message: AnalyticsRequest) => {
    switch (message.type) {
      case "exchanges":
        for (const { summary, costUsd } of message.exchanges) {
          spans?.finish(summary);
          recorder.record(summary, costUsd);
        }
        port.postMessage({
          consumed: message.exchanges.length,
        } satisfies AnalyticsMessage);
        return;
      case "metrics":
        void registry
          .getMetricsAsJSON()
          .then((json) => reply(message.id, json));
        return;
      case "flush":
        void Promise.all([
          pipeline.flush(message.timeoutMs),
          spans?.forceFlush().catch(() => undefined),
        ]).then(() => reply(message.id));
        return;
      case "close":
        void Promise.all([pipeline.close(), spans?.shutdown(2000)]).then(() =>
          reply(message.id),
        );
        return;
    }
  });
}

if (parentPort === null)
  throw new Error("analytics-worker.ts runs as a worker thread only");
void run(parentPort);
