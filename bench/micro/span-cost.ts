// Microbenchmark: CPU per exchange of tracing, in process. The request thread's part (trace-start: context,
// ids, sampling) and the analytics thread's (span-export: the span, its phases, the batch processor and the OTLP
// protobuf serialisation the exporter does, without the HTTP request).
//   node bench/micro/span-cost.ts
import { ExportResultCode } from "@opentelemetry/core";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";
import pino from "pino";
import { Registry } from "prom-client";
import { createMetrics } from "../../proxy/src/metrics/definitions.ts";
import { createSpanExport } from "../../proxy/src/tracing/span-export.ts";
import { createTraceStarter } from "../../proxy/src/tracing/trace-start.ts";
import { loadTracingSettings } from "../../proxy/src/tracing/settings.ts";
import type { ExchangeSummary } from "../../proxy/src/exchange/outcome.ts";
import { describeRequest } from "../../proxy/src/upstream/request.ts";
import { matchRoute } from "../../proxy/src/upstream/routes.ts";
import { benchSummary } from "./exchange-summary.ts";
import { time as timeEach, timeSettled } from "./timing.ts";

const settings = loadTracingSettings({
  OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
  OTEL_TRACES_SAMPLER: "always_on",
  OTEL_BSP_MAX_QUEUE_SIZE: "100000",
});
let serializedBytes = 0;
// What OTLPTraceExporter does to a batch before sending it; the send itself is left out.
const serializing: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    serializedBytes +=
      ProtobufTraceSerializer.serializeRequest(spans)?.length ?? 0;
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: () => Promise.resolve(),
};
const spans = createSpanExport(
  settings,
  { redact: (text) => text },
  {
    metrics: createMetrics(new Registry(), {
      clientLabel: false,
      processMetrics: false,
    }),
    logger: pino({ level: "silent" }),
    version: "bench",
    exporter: serializing,
  },
);
const starter = createTraceStarter(settings);

const route = matchRoute("POST", "/api/generate");
const request = describeRequest(
  route,
  { model: "bench-fast", prompt: "Why is the sky blue?", stream: false },
  8192,
);
function exchange(withTimings: boolean): ExchangeSummary {
  const ids = starter.begin({}, route);
  return benchSummary({
    traceId: ids.traceId,
    spanId: ids.spanId,
    traceSampled: true,
    route,
    request,
    startedAtMs: Date.now() - 12,
    tap: {
      framing: "json",
      response: "The sky is blue because of Rayleigh scattering.",
      responseChars: 47,
      usage: withTimings
        ? {
            promptTokens: 13,
            completionTokens: 8,
            totalDurationSeconds: 0.0078,
            loadDurationSeconds: 0.001,
            promptEvalDurationSeconds: 0.0013,
            evalDurationSeconds: 0.005,
          }
        : { promptTokens: 13, completionTokens: 8 },
      doneReason: "stop",
      done: true,
      error: undefined,
      model: "bench-fast",
      parseErrors: 0,
    },
    requestBytes: 90,
  });
}

const withPhases = exchange(true);
const without = exchange(false);
timeEach(
  "trace-start.begin (request thread)",
  () => starter.begin({}, route),
  200_000,
);
timeEach(
  "trace-start.begin with a traceparent",
  () =>
    starter.begin(
      {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      },
      route,
    ),
  200_000,
);
// Each run's spans are flushed before its clock stops: the batch processor serialises them then, not when they
// are handed over, and its queue (100,000) holds a run's 10,000.
const flush = () => spans.forceFlush();
await timeSettled(
  "span-export.finish: 1 span (no Ollama timings)",
  () => spans.finish(without),
  flush,
  2_000,
);
await timeSettled(
  "span-export.finish: 1 span + 4 phases",
  () => spans.finish(withPhases),
  flush,
  2_000,
);
console.log(
  `(serialised ${(serializedBytes / 1e6).toFixed(1)} MB of OTLP protobuf)`,
);
await spans.shutdown(1000);
