// The spans an exchange leaves, as a collector receives them (the SDK's protobuf serialiser, decoded against the
// OTLP schema): ids and parent from the request thread, the client's trace state, kinds, exact times, Ollama's
// phases under the exchange, the error status, and text cut to OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT.
import { ExportResultCode } from "@opentelemetry/core";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import pino from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { createMetrics } from "@proxy/metrics/definitions.ts";
import { createSpanExport } from "@proxy/tracing/span-export.ts";
import { loadTracingSettings } from "@proxy/tracing/settings.ts";
import type { ExchangeSummary } from "@proxy/exchange/outcome.ts";
import { decodeSpans, type ReceivedSpan } from "../../fixtures/fake-otlp.ts";
import { summary, tap } from "../../fixtures/exchange.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const PARENT_ID = "b7ad6b7169203331";

async function exported(
  summaries: ExchangeSummary[],
  env: Record<string, string> = {},
): Promise<ReceivedSpan[]> {
  const received: ReceivedSpan[] = [];
  const exporter: SpanExporter = {
    export(spans, done) {
      const body = ProtobufTraceSerializer.serializeRequest(spans);
      if (body) received.push(...decodeSpans(body));
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: () => Promise.resolve(),
  };
  const spans = createSpanExport(
    loadTracingSettings({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
      ...env,
    }),
    { redact: (text) => text.replaceAll(/\S+@\S+/g, "[email]") },
    {
      metrics: createMetrics(new Registry(), {
        clientLabel: false,
        processMetrics: false,
      }),
      logger: pino({ level: "silent" }),
      version: "test",
      exporter,
    },
  );
  for (const s of summaries) spans.finish(s);
  await spans.shutdown(5_000);
  return received;
}

const traced = (overrides: Partial<ExchangeSummary> = {}) =>
  summary({
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    traceSampled: true,
    ...overrides,
  });

describe("exported spans", () => {
  it("continue the client's trace: ids, parent, trace state, kind and the exchange's exact times", async () => {
    const exchange = traced({
      traceParentId: PARENT_ID,
      traceState: "vendor=abc,other=1",
      tap: tap({
        usage: {
          promptTokens: 12,
          completionTokens: 40,
          totalDurationSeconds: 2.3,
          loadDurationSeconds: 0.25,
          promptEvalDurationSeconds: 0.05,
          evalDurationSeconds: 2,
        },
      }),
    });
    const spans = await exported([exchange]);
    const main = spans.find((s) => s.spanId === SPAN_ID);
    expect(main).toMatchObject({
      traceId: TRACE_ID,
      parentSpanId: PARENT_ID,
      traceState: "vendor=abc,other=1",
      name: "chat llama3.2",
      kind: 3, // CLIENT
      statusCode: 0,
      // Sampled, and a parent that is known to be remote.
      flags: 0x301,
    });
    const endMs = exchange.startedAtMs + exchange.durationSeconds * 1000;
    expect(main!.startMs).toBeCloseTo(exchange.startedAtMs, 3);
    expect(main!.endMs).toBeCloseTo(endMs, 3);
    expect(main!.resource).toMatchObject({ "service.name": "ollama-proxy" });
    expect(main!.events.map((e) => e.name)).toEqual(["gen_ai.first_token"]);
    expect(main!.events[0]!.atMs).toBeCloseTo(exchange.startedAtMs + 400, 3);

    const phases = spans.filter((s) => s.spanId !== SPAN_ID);
    expect(phases.map((s) => s.name)).toEqual([
      "ollama queue + load",
      "ollama prompt_eval",
      "ollama eval",
    ]);
    for (const phase of phases) {
      expect(phase).toMatchObject({
        traceId: TRACE_ID,
        parentSpanId: SPAN_ID,
        traceState: "vendor=abc,other=1",
        kind: 1, // INTERNAL
        flags: 0x101,
      });
      expect(phase.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(phase.startMs).toBeGreaterThanOrEqual(main!.startMs);
      expect(phase.endMs).toBeLessThanOrEqual(main!.endMs + 1e-3);
    }
    expect(new Set(phases.map((s) => s.spanId)).size).toBe(3);
    // In order, without overlap, ending where Ollama's work ended.
    expect(phases.at(-1)!.endMs).toBeCloseTo(endMs, 3);
    for (let i = 1; i < phases.length; i++)
      expect(phases[i]!.startMs).toBeCloseTo(phases[i - 1]!.endMs, 3);
  });

  it("start a trace when the client sent none, and mark a failure", async () => {
    const [span] = await exported([
      traced({
        status: 404,
        statusLabel: "404",
        outcome: "upstream_error",
        error: 'model "nope" not found',
        tap: undefined,
      }),
    ]);
    expect(span).toMatchObject({
      parentSpanId: "",
      traceState: "",
      flags: 0x101,
      statusCode: 2,
    });
    expect(span!.attributes["error.type"]).toBe("404");
  });

  it("survive an exchange whose spans cannot be built: the others of its batch are exported", async () => {
    const broken = traced({
      spanId: "1111111111111111",
      request: undefined as unknown as ExchangeSummary["request"],
    });
    const spans = await exported([broken, traced()]);
    expect(spans.map((s) => s.spanId)).toEqual([SPAN_ID]);
  });

  it("leave out what the request thread did not sample", async () => {
    expect(
      await exported([traced({ traceSampled: false }), summary()]),
    ).toEqual([]);
  });

  it("cut text to OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, captured content included", async () => {
    const long = "x".repeat(100);
    const [span] = await exported(
      [
        traced({
          path: `/api/chat/${long}`,
          request: { ...summary().request, prompt: long },
          tap: tap({ response: long, usage: {} }),
        }),
      ],
      {
        OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: "16",
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true",
      },
    );
    expect(span!.attributes["url.path"]).toBe("/api/chat/xxxxxx");
    const prompt = span!.events.find((e) => e.name === "gen_ai.content.prompt");
    expect(prompt!.attributes["gen_ai.prompt"]).toBe("x".repeat(16));
    // Numbers are not text.
    expect(span!.attributes["server.port"]).toBe(11435);
  });
});
