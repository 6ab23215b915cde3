// Finished exchanges as OpenTelemetry spans, exported over OTLP/HTTP (protobuf) by the SDK's bounded batch
// processor. Runs where records are built — on the analytics thread when there is one — from the summary alone:
// the span gets the ids and sampling decision the request thread took at accept (trace-start.ts) and the exact
// start and end of the exchange (finished-spans.ts). A slow or dead collector costs spans, counted and logged once
// per outage, never a request's time.
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  RandomIdGenerator,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import type { Config } from "../config.ts";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import { redactorFrom } from "../records/recorder.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { planSpan, spanKindOf, type SpanOptions } from "./exchange-span.ts";
import {
  finishedSpans,
  type SpanIds,
  type SpanSource,
} from "./finished-spans.ts";
import type { TracingSettings } from "./settings.ts";

export interface SpanExport {
  /** Exports the exchange's span when the request thread sampled it. */
  finish(summary: ExchangeSummary): void;
  forceFlush(): Promise<void>;
  /** Exports what is queued, within `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** What the analytics thread needs to export spans (plain data: it crosses to the thread). */
export interface SpanExportData {
  readonly settings: TracingSettings;
  readonly version: string;
}

/** The span export of `data`, redacting content like records (REDACT_*). */
export function spanExportOf(
  data: SpanExportData,
  config: Config,
  metrics: Metrics,
  logger: Logger,
): SpanExport {
  return createSpanExport(
    data.settings,
    {
      redact: redactorFrom(config),
    },
    { metrics, logger, version: data.version },
  );
}

export interface SpanExportDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly version: string;
  /** An exporter to use instead of OTLP (tests). */
  readonly exporter?: SpanExporter;
}

/**
 * Counts what the batch processor loses. It keeps sampled spans in a queue of `maxQueueSize` and drops what
 * arrives when it is full, without telling anyone; the same rule is applied here to count those drops, and the
 * exporter's results count the rest.
 */
function countedExport(
  inner: SpanExporter,
  settings: TracingSettings,
  deps: SpanExportDeps,
): Omit<SpanProcessor, "onStart"> {
  let queued = 0;
  let failing = false;
  const endpoint = settings.endpoint;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      queued = Math.max(0, queued - spans.length);
      inner.export(spans, (result) => {
        if (result.code === ExportResultCode.SUCCESS) {
          deps.metrics.spansExported.inc(spans.length);
          if (failing) {
            failing = false;
            deps.logger.info(
              { endpoint },
              "traces: the collector answers again",
            );
          }
        } else {
          deps.metrics.spansDropped.inc(
            { reason: "export_failed" },
            spans.length,
          );
          if (!failing) {
            failing = true;
            deps.logger.warn(
              { endpoint, err: result.error?.message },
              "traces: export failed; spans are dropped (and counted) until the collector answers",
            );
          }
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
  const processor = new BatchSpanProcessor({
    exporter,
    maxQueueSize: settings.maxQueueSize,
    maxExportBatchSize: settings.maxExportBatchSize,
    scheduledDelayMillis: settings.scheduledDelayMs,
    exportTimeoutMillis: settings.exportTimeoutMs,
  });
  return {
    onEnd(span) {
      if (queued >= settings.maxQueueSize)
        deps.metrics.spansDropped.inc({ reason: "queue_full" });
      else queued++;
      processor.onEnd(span);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
}

/** Exchanges whose spans are built together, and the longest an exchange waits for its batch. */
const BUILD_BATCH = 256;
const BUILD_DELAY_MS = 100;

export function createSpanExport(
  settings: TracingSettings,
  spanOptions: Omit<SpanOptions, "latestGenAi" | "captureContent">,
  deps: SpanExportDeps,
): SpanExport {
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        "service.name": settings.serviceName,
        "service.version": deps.version,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const processor = countedExport(
    deps.exporter ?? new OTLPTraceExporter(),
    settings,
    deps,
  );
  const random = new RandomIdGenerator();
  const source: SpanSource = {
    resource,
    scope: { name: "ollama-proxy", version: deps.version },
    spanId: () => random.generateSpanId(),
    valueLengthLimit: settings.attributeValueLengthLimit,
  };
  const options: SpanOptions = {
    ...spanOptions,
    latestGenAi: settings.latestGenAi,
    captureContent: settings.captureContent,
  };

  // Spans are built a batch at a time rather than as each exchange ends: the analytics thread's work on each
  // hand-over stays what it is with tracing off, and the building runs as one burst per batch. (On two cores the
  // thread's work meets the next request; see docs/performance.md for what the p50 pairs measured.)
  let pending: Array<{ summary: ExchangeSummary; ids: SpanIds }> = [];
  let timer: NodeJS.Timeout | undefined;
  const build = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    for (const { summary, ids } of batch) {
      try {
        const endMs = summary.startedAtMs + summary.durationSeconds * 1000;
        const plan = planSpan(summary, endMs, options);
        for (const span of finishedSpans(
          summary,
          ids,
          plan,
          spanKindOf(summary.route),
          endMs,
          source,
        ))
          processor.onEnd(span);
      } catch (error) {
        // A bug in one exchange's span costs that span, never the batch or the thread (this runs from a timer).
        deps.logger.error(
          { err: error, request_id: summary.requestId },
          "traces: could not build an exchange's spans",
        );
      }
    }
  };

  return {
    finish(summary) {
      const { traceId, spanId } = summary;
      if (!summary.traceSampled || !traceId || !spanId) return;
      pending.push({ summary, ids: { traceId, spanId } });
      if (pending.length >= BUILD_BATCH) build();
      else timer ??= setTimeout(build, BUILD_DELAY_MS).unref();
    },
    forceFlush() {
      build();
      return processor.forceFlush();
    },
    async shutdown(timeoutMs) {
      build();
      await Promise.race([
        processor.shutdown().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    },
  };
}
