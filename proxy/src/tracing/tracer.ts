// One span per exchange through the OpenTelemetry SDK, exported over OTLP/HTTP (protobuf) by a bounded batch
// processor: a slow or dead collector costs spans, counted and logged once per outage, never a request's time.
// The span starts at accept (continuing an incoming W3C traceparent) so that its ids reach the record, and ends
// in a finish hook with everything the exchange revealed (exchange-span.ts).
import type { IncomingHttpHeaders } from "node:http";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  defaultTextMapGetter,
  trace,
  type Context,
  type Span,
} from "@opentelemetry/api";
import {
  ExportResultCode,
  W3CTraceContextPropagator,
  type ExportResult,
} from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import {
  defaultResource,
  envDetector,
  detectResources,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace";
import type { FinishHook } from "../exchange/owner.ts";
import type { TraceIds } from "../exchange/state.ts";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { Route } from "../upstream/types.ts";
import { genAiOperation, planSpan, type SpanOptions } from "./exchange-span.ts";
import type { SamplerName, TracingSettings } from "./settings.ts";

export interface ExchangeTracing {
  /** At accept: the exchange's span ids (continuing the client's trace when it sent one). */
  begin(headers: IncomingHttpHeaders, route: Route): TraceIds | undefined;
  /** Ends the exchange's span: register it among the owner's finish hooks. */
  readonly finish: FinishHook;
  /** Exports what is queued, within `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface TracingDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly version: string;
  /** An exporter to use instead of OTLP (tests). */
  readonly exporter?: SpanExporter;
}

function samplerOf(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({
        root: new TraceIdRatioBasedSampler(ratio),
      });
  }
}

/**
 * Counts what the batch processor loses. It keeps sampled spans in a queue of `maxQueueSize` and drops what
 * arrives when it is full, without telling anyone; the same rule is applied here to count those drops, and the
 * exporter's results count the rest.
 */
function countedExport(
  processorOf: (exporter: SpanExporter) => SpanProcessor,
  inner: SpanExporter,
  maxQueueSize: number,
  deps: TracingDeps,
  endpoint: string | undefined,
): SpanProcessor {
  let queued = 0;
  let failing = false;
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
  const processor = processorOf(exporter);
  return {
    onStart: (span, context) => processor.onStart(span, context),
    onEnd(span) {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0) {
        if (queued >= maxQueueSize)
          deps.metrics.spansDropped.inc({ reason: "queue_full" });
        else queued++;
      }
      processor.onEnd(span);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
}

export function createTracing(
  settings: TracingSettings,
  spanOptions: Omit<SpanOptions, "latestGenAi" | "captureContent">,
  deps: TracingDeps,
): ExchangeTracing {
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        "service.name": settings.serviceName,
        "service.version": deps.version,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
  const processor = countedExport(
    (exporter) =>
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: settings.maxQueueSize,
        maxExportBatchSize: settings.maxExportBatchSize,
        scheduledDelayMillis: settings.scheduledDelayMs,
        exportTimeoutMillis: settings.exportTimeoutMs,
      }),
    deps.exporter ?? new OTLPTraceExporter(),
    settings.maxQueueSize,
    deps,
    settings.endpoint,
  );
  const provider = new TracerProvider({
    resource,
    sampler: samplerOf(settings.sampler, settings.samplerRatio),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("ollama-proxy", deps.version);
  const propagator = new W3CTraceContextPropagator();
  const options: SpanOptions = {
    ...spanOptions,
    latestGenAi: settings.latestGenAi,
    captureContent: settings.captureContent,
  };
  // Spans in flight, by span id; the owner's finish runs exactly once per begin, which removes the entry.
  const open = new Map<string, Span>();

  const parentOf = (headers: IncomingHttpHeaders): Context =>
    headers.traceparent === undefined
      ? ROOT_CONTEXT
      : propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);

  return {
    begin(headers, route) {
      // A model call is a CLIENT span in the GenAI conventions; other routes are the proxy serving HTTP. Named at
      // the end, once the body has told the model.
      const span = tracer.startSpan(
        "exchange",
        {
          kind:
            genAiOperation(route.op) !== undefined
              ? SpanKind.CLIENT
              : SpanKind.SERVER,
        },
        parentOf(headers),
      );
      const { traceId, spanId, traceFlags } = span.spanContext();
      open.set(spanId, span);
      return {
        traceId,
        spanId,
        sampled: (traceFlags & TraceFlags.SAMPLED) !== 0,
      };
    },
    finish(summary: ExchangeSummary) {
      if (summary.spanId === undefined) return;
      const span = open.get(summary.spanId);
      if (!span) return;
      open.delete(summary.spanId);
      if (!span.isRecording()) {
        span.end();
        return;
      }
      const endMs = Date.now();
      const plan = planSpan(summary, endMs, options);
      span.updateName(plan.name);
      span.setAttributes(plan.attributes);
      for (const event of plan.events)
        span.addEvent(event.name, event.attributes, event.atMs);
      if (plan.error !== undefined)
        span.setStatus({ code: SpanStatusCode.ERROR, message: plan.error });
      const parent = trace.setSpan(ROOT_CONTEXT, span);
      for (const phase of plan.phases)
        tracer
          .startSpan(
            phase.name,
            { kind: SpanKind.INTERNAL, startTime: phase.startMs },
            parent,
          )
          .end(phase.endMs);
      span.end(endMs);
    },
    async shutdown(timeoutMs) {
      await Promise.race([
        provider.shutdown().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    },
  };
}
