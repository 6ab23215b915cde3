// A finished exchange as an OpenTelemetry span: its name, attributes (GenAI and HTTP semantic conventions), the
// first-token event, and Ollama's own timings as child phases placed where they happened. Pure: the tracer
// (tracer.ts) turns this plan into SDK calls.
import { SpanKind } from "@opentelemetry/api";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import type { Op, Route } from "../upstream/types.ts";

export type Attributes = Record<string, string | number | boolean | string[]>;

export interface SpanPlan {
  readonly name: string;
  readonly attributes: Attributes;
  /** Unset, or an error with its message (the outcome was a failure on the proxy's or Ollama's side). */
  readonly error: string | undefined;
  readonly events: ReadonlyArray<{
    name: string;
    atMs: number;
    attributes: Attributes;
  }>;
  /** Ollama's timings: queue wait + model load, prompt eval, eval, the rest; in order, non-overlapping. */
  readonly phases: ReadonlyArray<{
    name: string;
    startMs: number;
    endMs: number;
  }>;
}

export interface SpanOptions {
  /** OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental: gen_ai.provider.name and message attributes. */
  readonly latestGenAi: boolean;
  /** Prompt and completion text on the span, after `redact`. */
  readonly captureContent: boolean;
  readonly redact: (text: string) => string;
}

/** The GenAI operation of a route, or undefined for routes that are not model calls. */
export function genAiOperation(op: Op): string | undefined {
  switch (op) {
    case "chat":
    case "chat_completions":
    case "messages":
    case "responses":
      return "chat";
    case "generate":
    case "completions":
      return "text_completion";
    case "embed":
    case "embeddings":
    case "openai_embeddings":
      return "embeddings";
    default:
      return undefined;
  }
}

/** A model call is a CLIENT span in the GenAI conventions; other routes are the proxy serving HTTP. */
export function spanKindOf(route: Route): SpanKind {
  return genAiOperation(route.op) !== undefined
    ? SpanKind.CLIENT
    : SpanKind.SERVER;
}

/** `chat llama3.2`, `embeddings nomic-embed-text`, or `GET /api/tags` for other routes. */
export function spanName(
  route: Route,
  method: string,
  requestModel: string | undefined,
): string {
  const operation = genAiOperation(route.op);
  if (operation === undefined) return `${method} ${route.endpoint}`;
  return requestModel ? `${operation} ${requestModel}` : operation;
}

function errorType(summary: ExchangeSummary): string | undefined {
  if (summary.outcome === "ok") return undefined;
  if (summary.status !== undefined && summary.status >= 400)
    return String(summary.status);
  return summary.outcome;
}

const FAILED = new Set(["upstream_error", "stream_error", "proxy_error"]);

export function planSpan(
  summary: ExchangeSummary,
  endMs: number,
  options: SpanOptions,
): SpanPlan {
  const { route, request, tap } = summary;
  const usage = tap?.usage ?? {};
  const operation = genAiOperation(route.op);
  const attributes: Attributes = {
    "http.request.method": summary.method,
    "http.route": route.endpoint,
    "url.path": summary.path,
    "client.address": summary.clientIp,
    "ollama_proxy.request_id": summary.requestId,
    "ollama_proxy.outcome": summary.outcome,
  };
  // The Ollama that served it (none for a request refused before it was sent anywhere).
  if (summary.serverAddress !== undefined) {
    attributes["server.address"] = summary.serverAddress;
    if (summary.serverPort !== undefined)
      attributes["server.port"] = summary.serverPort;
  }
  if (summary.backend !== "")
    attributes["ollama_proxy.backend"] = summary.backend;
  // The model as the metrics label it (normalised, aliases resolved): Tempo's links to metrics filter on it.
  if (summary.model !== "") attributes["ollama_proxy.model"] = summary.model;
  if (summary.status !== undefined)
    attributes["http.response.status_code"] = summary.status;
  if (summary.client !== "") attributes["ollama_proxy.client"] = summary.client;
  const failure = errorType(summary);
  if (failure !== undefined) attributes["error.type"] = failure;
  const events: Array<SpanPlan["events"][number]> = [];
  if (operation !== undefined) {
    attributes[options.latestGenAi ? "gen_ai.provider.name" : "gen_ai.system"] =
      "ollama";
    attributes["gen_ai.operation.name"] = operation;
    if (request.model !== undefined)
      attributes["gen_ai.request.model"] = request.model;
    // The model the answer names, else (a body without one) the one asked for, if it answered at all.
    const responseModel =
      tap?.model ?? (failure === undefined ? summary.model : "");
    if (responseModel !== "")
      attributes["gen_ai.response.model"] = responseModel;
    const params = request.params;
    if (params?.maxTokens !== undefined)
      attributes["gen_ai.request.max_tokens"] = params.maxTokens;
    if (params?.temperature !== undefined)
      attributes["gen_ai.request.temperature"] = params.temperature;
    if (params?.topP !== undefined)
      attributes["gen_ai.request.top_p"] = params.topP;
    if (params?.topK !== undefined)
      attributes["gen_ai.request.top_k"] = params.topK;
    if (params?.seed !== undefined)
      attributes["gen_ai.request.seed"] = params.seed;
    if (params?.stopSequences !== undefined)
      attributes["gen_ai.request.stop_sequences"] = [...params.stopSequences];
    if (params?.frequencyPenalty !== undefined)
      attributes["gen_ai.request.frequency_penalty"] = params.frequencyPenalty;
    if (params?.presencePenalty !== undefined)
      attributes["gen_ai.request.presence_penalty"] = params.presencePenalty;
    if (tap?.doneReason !== undefined)
      attributes["gen_ai.response.finish_reasons"] = [tap.doneReason];
    if (usage.promptTokens !== undefined)
      attributes["gen_ai.usage.input_tokens"] = usage.promptTokens;
    if (usage.completionTokens !== undefined)
      attributes["gen_ai.usage.output_tokens"] = usage.completionTokens;
    if (summary.ttftSeconds !== undefined)
      events.push({
        name: "gen_ai.first_token",
        atMs: summary.startedAtMs + summary.ttftSeconds * 1000,
        attributes: {
          "gen_ai.server.time_to_first_token": summary.ttftSeconds,
        },
      });
    if (options.captureContent)
      addContent(attributes, events, summary, endMs, options);
  }
  return {
    name: spanName(route, summary.method, request.model),
    attributes,
    error: FAILED.has(summary.outcome)
      ? (summary.error ?? summary.outcome)
      : undefined,
    events,
    phases: ollamaPhases(summary, endMs),
  };
}

function addContent(
  attributes: Attributes,
  events: Array<SpanPlan["events"][number]>,
  summary: ExchangeSummary,
  endMs: number,
  options: SpanOptions,
): void {
  const prompt = options.redact(summary.request.prompt);
  const completion = options.redact(summary.tap?.response ?? "");
  if (options.latestGenAi) {
    // The prompt as records render it: every message, prefixed by its role, in one text part.
    attributes["gen_ai.input.messages"] = JSON.stringify([
      { role: "user", parts: [{ type: "text", content: prompt }] },
    ]);
    attributes["gen_ai.output.messages"] = JSON.stringify([
      {
        role: "assistant",
        parts: [{ type: "text", content: completion }],
        ...(summary.tap?.doneReason !== undefined && {
          finish_reason: summary.tap.doneReason,
        }),
      },
    ]);
    return;
  }
  events.push(
    {
      name: "gen_ai.content.prompt",
      atMs: summary.startedAtMs,
      attributes: { "gen_ai.prompt": prompt },
    },
    {
      name: "gen_ai.content.completion",
      atMs: endMs,
      attributes: { "gen_ai.completion": completion },
    },
  );
}

/**
 * Ollama reports durations, not instants: load (which includes the wait for a runner, i.e. its queue, and any
 * model load), prompt eval and eval, and their total from the handler's entry to the done chunk. Its work ends
 * when its last byte leaves, so the phases are laid out in that order from `end − total`, clamped to the
 * exchange; what the total holds beyond the three (templating, tokenising, writing) is the last phase.
 */
export function ollamaPhases(
  summary: ExchangeSummary,
  endMs: number,
): SpanPlan["phases"] {
  const usage = summary.tap?.usage;
  const totalMs = (usage?.totalDurationSeconds ?? 0) * 1000;
  if (!usage || totalMs <= 0) return [];
  const loadMs = (usage.loadDurationSeconds ?? 0) * 1000;
  const promptEvalMs = (usage.promptEvalDurationSeconds ?? 0) * 1000;
  const evalMs = (usage.evalDurationSeconds ?? 0) * 1000;
  const otherMs = Math.max(0, totalMs - loadMs - promptEvalMs - evalMs);
  const phases: Array<{ name: string; startMs: number; endMs: number }> = [];
  let at = Math.max(summary.startedAtMs, endMs - totalMs);
  const lay = (name: string, durationMs: number) => {
    if (durationMs <= 0) return;
    const end = Math.min(endMs, at + durationMs);
    phases.push({ name, startMs: at, endMs: end });
    at = end;
  };
  // A model loaded before the request arrived: load_duration is only the wait for a runner.
  lay(summary.modelWarm ? "ollama queue" : "ollama queue + load", loadMs);
  lay("ollama prompt_eval", promptEvalMs);
  lay("ollama eval", evalMs);
  lay("ollama other", otherMs);
  return phases;
}
