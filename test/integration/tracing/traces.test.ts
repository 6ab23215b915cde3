// The real proxy process exporting OTLP/HTTP to a receiver that decodes the protobuf: one span per request with the
// client's parent, Ollama's timings as child phases, the record carrying the span's ids, content only when asked
// and then redacted, and a failing or hanging collector costing spans (counted) but no request.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  startFakeOtlp,
  type FakeOtlp,
  type ReceivedSpan,
} from "../../fixtures/fake-otlp.ts";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { readYaml } from "../../config/repo-files.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

/** What this test reads of a provisioned Grafana datasource's jsonData. */
interface GrafanaJsonData {
  derivedFields?: Array<{ matcherRegex: string }>;
  tracesToLogsV2?: { query: string };
}

async function chat(
  proxy: ProxyProcess,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${proxy.url}/api/chat`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  await response.text();
  return {
    status: response.status,
    requestId: response.headers.get("x-request-id") ?? "",
  };
}

/** The exchange span the receiver got for `requestId`, once it has. */
function spanOf(otlp: FakeOtlp, requestId: string): ReceivedSpan | undefined {
  return otlp.spans.find(
    (span) => span.attributes["ollama_proxy.request_id"] === requestId,
  );
}

async function spanFor(
  otlp: FakeOtlp,
  requestId: string,
): Promise<ReceivedSpan> {
  await waitFor(() => spanOf(otlp, requestId) !== undefined, {
    timeoutMs: 10_000,
  });
  return spanOf(otlp, requestId)!;
}

/** Spans the proxy counts as lost to failed exports. */
async function exportFailures(proxy: ProxyProcess): Promise<number> {
  return sumOf(
    await scrape(proxy.url),
    "ollama_proxy_trace_spans_dropped_total",
    { reason: "export_failed" },
  );
}

/** The emulator, an OTLP receiver and the proxy exporting to it, with `env` added. */
async function startTraced(env: (otlpUrl: string) => Record<string, string>) {
  const emulator = await createEmulator({ port: 0 });
  const otlp = await startFakeOtlp();
  const proxy = await startProxy({
    OLLAMA_URL: emulator.url,
    ...env(otlp.url),
  });
  return {
    emulator,
    otlp,
    proxy,
    close: async () => {
      await proxy.stop("SIGKILL");
      await otlp.close();
      await emulator.close();
    },
  };
}

describe("traces", () => {
  let otlp: FakeOtlp;
  let proxy: ProxyProcess;
  let stack: Awaited<ReturnType<typeof startTraced>> | undefined;

  beforeAll(async () => {
    stack = await startTraced((url) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: url,
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_BSP_EXPORT_TIMEOUT: "1000",
      OTEL_SERVICE_NAME: "proxy-under-test",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
      OTEL_SEMCONV_STABILITY_OPT_IN: "gen_ai_latest_experimental",
    }));
    ({ otlp, proxy } = stack);
  });
  afterAll(() => stack?.close());

  const waitForSpan = (requestId: string) => spanFor(otlp, requestId);

  it("continues the client's trace with one GenAI span, its phases and the first token", async () => {
    const { status, requestId } = await chat(
      proxy,
      {
        model: "llama3.2",
        messages: [{ role: "user", content: "say hi" }],
        options: { temperature: 0.2, num_predict: 64, top_k: 20 },
      },
      { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
    );
    expect(status).toBe(200);
    const span = await waitForSpan(requestId);
    expect(span).toMatchObject({
      traceId: TRACE_ID,
      parentSpanId: PARENT_ID,
      name: "chat llama3.2",
      kind: 3,
      statusCode: 0,
    });
    expect(span.attributes).toMatchObject({
      "gen_ai.provider.name": "ollama",
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "llama3.2",
      // Ollama echoes the model as the client named it.
      "gen_ai.response.model": "llama3.2",
      "gen_ai.request.temperature": 0.2,
      "gen_ai.request.max_tokens": 64,
      "gen_ai.request.top_k": 20,
      // num_predict: 64 cut the reply.
      "gen_ai.response.finish_reasons": ["length"],
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "url.path": "/api/chat",
      "client.address": "127.0.0.1",
      "server.address": "127.0.0.1",
    });
    expect(span.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
    expect(span.attributes["gen_ai.usage.output_tokens"]).toBeGreaterThan(0);
    expect(span.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(span.resource).toMatchObject({
      "service.name": "proxy-under-test",
      "deployment.environment": "test",
    });
    const firstToken = span.events.find((e) => e.name === "gen_ai.first_token");
    expect(firstToken?.atMs).toBeGreaterThanOrEqual(span.startMs);
    expect(firstToken?.atMs).toBeLessThanOrEqual(span.endMs);
    // Ollama's own timings hang under the exchange, inside it, in order.
    await waitFor(
      () => otlp.spans.filter((s) => s.parentSpanId === span.spanId).length > 0,
    );
    const phases = otlp.spans
      .filter((s) => s.parentSpanId === span.spanId)
      .sort((a, b) => a.startMs - b.startMs);
    expect(phases.map((p) => p.name)).toContain("ollama eval");
    for (const phase of phases) {
      expect(phase.traceId).toBe(TRACE_ID);
      expect(phase.startMs).toBeGreaterThanOrEqual(span.startMs - 1);
      expect(phase.endMs).toBeLessThanOrEqual(span.endMs + 1);
    }
    // The record names the same span.
    expect(await proxy.recordFor(requestId)).toMatchObject({
      trace_id: TRACE_ID,
      span_id: span.spanId,
    });
  });

  it("puts the trace id on the latency histograms as an exemplar, in OpenMetrics only", async () => {
    const { requestId } = await chat(proxy, {
      model: "llama3.2",
      messages: [{ role: "user", content: "exemplar" }],
    });
    const span = await waitForSpan(requestId);
    const openMetrics = await fetch(`${proxy.url}/metrics`, {
      headers: {
        Accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
      },
    });
    expect(openMetrics.headers.get("content-type")).toContain(
      "application/openmetrics-text",
    );
    const body = await openMetrics.text();
    expect(body.trimEnd().endsWith("# EOF")).toBe(true);
    const exemplarLines = body
      .split("\n")
      .filter((line) => line.includes(`trace_id="${span.traceId}"`));
    expect(
      exemplarLines.some((line) =>
        line.startsWith("ollama_request_duration_seconds_bucket{"),
      ),
    ).toBe(true);
    expect(
      exemplarLines.some((line) =>
        line.startsWith("ollama_time_to_first_token_seconds_bucket{"),
      ),
    ).toBe(true);
    // Counters keep their names: the family drops _total, the sample has it.
    expect(body).toMatch(/^# TYPE ollama_requests counter$/m);
    expect(body).toMatch(/^ollama_requests_total\{/m);
    const text = await (await fetch(`${proxy.url}/metrics`)).text();
    expect(text).toMatch(/^# TYPE ollama_requests_total counter$/m);
    expect(text).not.toContain("trace_id=");
  });

  it("starts a trace when the client sends none, and names other routes by method and route", async () => {
    const response = await fetch(`${proxy.url}/api/tags`);
    await response.text();
    const requestId = response.headers.get("x-request-id")!;
    const span = await waitForSpan(requestId);
    expect(span.name).toBe("GET /api/tags");
    expect(span.kind).toBe(2);
    expect(span.parentSpanId).toBe("");
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span.traceId).not.toBe(TRACE_ID);
    expect(span.attributes["gen_ai.operation.name"]).toBeUndefined();
    expect(await proxy.recordFor(requestId)).toMatchObject({
      trace_id: span.traceId,
      span_id: span.spanId,
    });
  });

  it("marks a failed exchange with error.type and an error status", async () => {
    const { status, requestId } = await chat(proxy, {
      model: "no-such-model",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(status).toBe(404);
    const span = await waitForSpan(requestId);
    expect(span.attributes["error.type"]).toBe("404");
    expect(span.statusCode).toBe(2);
  });

  it("names Ollama's wait for a runner 'ollama queue' and measures it when the model was loaded already", async () => {
    const body = {
      model: "qwen3:0.6b",
      messages: [{ role: "user", content: "warm up" }],
    };
    await chat(proxy, body);
    // The poller (every 500 ms here) sees the model in /api/ps; the next request finds it loaded.
    await waitFor(async () => {
      const samples = await scrape(proxy.url);
      return (
        sumOf(samples, "ollama_model_loaded", { model: "qwen3:0.6b" }) === 1
      );
    });
    await new Promise((resolve) => setTimeout(resolve, 600));
    const { requestId } = await chat(proxy, body);
    const span = await waitForSpan(requestId);
    await waitFor(() => otlp.spans.some((s) => s.parentSpanId === span.spanId));
    const names = otlp.spans
      .filter((s) => s.parentSpanId === span.spanId)
      .map((s) => s.name);
    expect(names).toContain("ollama queue");
    expect(names).not.toContain("ollama queue + load");
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_queue_wait_seconds_count", {
        model: "qwen3:0.6b",
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("gives exactly one exchange span per request", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        (
          await chat(proxy, {
            model: "llama3.2",
            messages: [{ role: "user", content: `n ${i}` }],
          })
        ).requestId,
      );
    for (const id of ids) await waitForSpan(id);
    for (const id of ids)
      expect(
        otlp.spans.filter(
          (s) => s.attributes["ollama_proxy.request_id"] === id,
        ),
      ).toHaveLength(1);
  });

  it("keeps serving while the collector refuses, counts the dropped spans and logs the outage once", async () => {
    const firstLine = proxy.lines.length;
    otlp.setMode("unavailable");
    try {
      const before = otlp.requests;
      for (let i = 0; i < 3; i++)
        expect(
          (
            await chat(proxy, {
              model: "llama3.2",
              messages: [{ role: "user", content: "during the outage" }],
            })
          ).status,
        ).toBe(200);
      await waitFor(async () => (await exportFailures(proxy)) >= 3, {
        timeoutMs: 15_000,
      });
      expect(otlp.requests).toBeGreaterThan(before);
    } finally {
      otlp.setMode("ok");
    }
    const { requestId } = await chat(proxy, {
      model: "llama3.2",
      messages: [{ role: "user", content: "after the outage" }],
    });
    await waitForSpan(requestId);
    await waitFor(() =>
      proxy.lines.some(
        (line) => line.msg === "traces: the collector answers again",
      ),
    );
    // The log reaches us through the child's stdout, later than the failure counter reaches /metrics, so the
    // outage's lines are counted once the recovery line (written after them) has arrived.
    const outage = proxy.lines.slice(firstLine);
    const recovered = outage.findIndex(
      (line) => line.msg === "traces: the collector answers again",
    );
    const outageLogs = outage
      .slice(0, recovered)
      .filter((line) => String(line.msg).startsWith("traces: export failed"));
    expect(outageLogs).toHaveLength(1);
  });

  it("keeps serving while the collector hangs", async () => {
    otlp.setMode("hang");
    try {
      for (let i = 0; i < 3; i++)
        expect(
          (
            await chat(proxy, {
              model: "llama3.2",
              messages: [{ role: "user", content: "collector hangs" }],
            })
          ).status,
        ).toBe(200);
      // The export times out (OTEL_BSP_EXPORT_TIMEOUT=1000) and its spans are counted as lost.
      const before = await exportFailures(proxy);
      await waitFor(async () => (await exportFailures(proxy)) > before, {
        timeoutMs: 15_000,
      });
    } finally {
      otlp.setMode("ok");
    }
  });
});

describe("trace content", () => {
  let otlp: FakeOtlp;
  let proxy: ProxyProcess;
  let stack: Awaited<ReturnType<typeof startTraced>> | undefined;

  beforeAll(async () => {
    stack = await startTraced((url) => ({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${url}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "50",
      OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true",
    }));
    ({ otlp, proxy } = stack);
  });
  afterAll(() => stack?.close());

  it("carries prompt and completion when asked, redacted like records, under the default (v1.36) names", async () => {
    const { requestId } = await chat(proxy, {
      model: "llama3.2",
      messages: [
        { role: "user", content: "my email is jane.doe@example.com, hi" },
      ],
    });
    const span = await spanFor(otlp, requestId);
    expect(span.attributes["gen_ai.system"]).toBe("ollama");
    expect(span.attributes["gen_ai.provider.name"]).toBeUndefined();
    const prompt = span.events.find((e) => e.name === "gen_ai.content.prompt");
    const completion = span.events.find(
      (e) => e.name === "gen_ai.content.completion",
    );
    expect(String(prompt?.attributes["gen_ai.prompt"])).toContain("hi");
    expect(String(prompt?.attributes["gen_ai.prompt"])).not.toContain(
      "jane.doe@example.com",
    );
    expect(String(completion?.attributes["gen_ai.completion"]).length).toBe(
      ((await proxy.recordFor(requestId)).response as string).length,
    );
  });
});

describe("traces through the analytics thread (records to Loki)", () => {
  let emulator: Emulator;
  let otlp: FakeOtlp;
  let loki: FakeLoki;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    emulator = await createEmulator({ port: 0 });
    otlp = await startFakeOtlp();
    loki = await createFakeLoki();
    proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      LOKI_URL: loki.url,
      LOKI_BATCH_WAIT_MS: "100",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: "50",
    });
  });
  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await loki?.close();
    await otlp?.close();
    await emulator?.close();
  });

  /** The entry Loki stored for a request: its stream labels, its line and the record parsed from it. */
  const lokiEntryFor = (requestId: string) =>
    waitFor(
      () =>
        loki
          .entries()
          .find(
            (entry) =>
              (entry.parsed as Record<string, unknown> | undefined)
                ?.request_id === requestId,
          ),
      { timeoutMs: 10_000 },
    );
  const lokiRecordFor = async (requestId: string) =>
    (await lokiEntryFor(requestId)).parsed as Record<string, unknown>;

  it("exports the span the record names, under the client's parent", async () => {
    const { requestId } = await chat(
      proxy,
      { model: "llama3.2", messages: [{ role: "user", content: "hi" }] },
      { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` },
    );
    const span = await spanFor(otlp, requestId);
    expect(span).toMatchObject({
      traceId: TRACE_ID,
      parentSpanId: PARENT_ID,
      name: "chat llama3.2",
    });
    const record = await lokiRecordFor(requestId);
    expect(record).toMatchObject({ trace_id: TRACE_ID, span_id: span.spanId });
  });

  it("links the record and the trace as Grafana's provisioned datasources read them", async () => {
    const { requestId } = await chat(proxy, {
      model: "llama3.2",
      messages: [{ role: "user", content: "hi" }],
    });
    const span = await spanFor(otlp, requestId);
    const entry = await lokiEntryFor(requestId);
    const { datasources } = readYaml(
      "grafana/provisioning/datasources/datasources.yaml",
    ) as { datasources: Array<{ type: string; jsonData: GrafanaJsonData }> };
    const jsonDataOf = (type: string) =>
      datasources.find((d) => d.type === type)!.jsonData;

    // Loki → Tempo: the derived field, applied to the line as Loki stores it, yields the exported span's trace.
    const [field] = jsonDataOf("loki").derivedFields ?? [];
    expect(new RegExp(field!.matcherRegex).exec(entry.line)?.[1]).toBe(
      span.traceId,
    );
    // Tempo → Loki: the trace-to-logs query selects the record's stream and filters on its trace_id ("$$" is
    // provisioning's escape of "$").
    const query = jsonDataOf("tempo").tracesToLogsV2!.query.replaceAll(
      "$${__trace.traceId}",
      span.traceId,
    );
    const selector = /^\{([^}]*)\}/.exec(query)?.[1] ?? "";
    const matchers = [...selector.matchAll(/(\w+)="([^"]*)"/g)];
    expect(matchers.length).toBeGreaterThan(0);
    for (const [, name, value] of matchers)
      expect(entry.labels[name!]).toBe(value);
    expect(query).toMatch(/\| json \| trace_id="([0-9a-f]{32})"$/);
    // The line filter ahead of the parser keeps the record's line.
    const lineFilter = /\|= "([^"]+)"/.exec(query)?.[1];
    expect(lineFilter).toBe(span.traceId);
    expect(entry.line).toContain(lineFilter);
    expect(query).toContain(
      `trace_id="${(entry.parsed as { trace_id: string }).trace_id}"`,
    );
  });

  it("does not export what the client's trace sampled out, and the record still names the trace", async () => {
    const { requestId } = await chat(
      proxy,
      { model: "llama3.2", messages: [{ role: "user", content: "hi" }] },
      { traceparent: `00-${TRACE_ID.replace("4", "5")}-${PARENT_ID}-00` },
    );
    const record = await lokiRecordFor(requestId);
    expect(record?.trace_id).toBe(TRACE_ID.replace("4", "5"));
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(spanOf(otlp, requestId)).toBeUndefined();
  });
});
