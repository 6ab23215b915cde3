// Entry of the analytics thread (started by analytics-thread.ts): records are built and delivered here, on an
// event loop of their own, so that categorising, redacting, serialising, Redis writes, stream reads and push
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
 * records wait (an A/B on the 2-core benchmark machine stayed within its run-to-run noise; the point is the
 * order under overload). Linux keeps a nice value per thread; /proc/thread-self names this one. Elsewhere the
 * thread keeps the process's priority.
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

function run(port: NonNullable<typeof parentPort>): void {
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
        for (const { summary, costUsd } of message.exchanges)
          recorder.record(summary, costUsd);
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
        void pipeline.flush(message.timeoutMs).then(() => reply(message.id));
        return;
      case "close":
        void pipeline.close().then(() => reply(message.id));
        return;
    }
  });
}

if (parentPort === null)
  throw new Error("analytics-worker.ts runs as a worker thread only");
run(parentPort);
