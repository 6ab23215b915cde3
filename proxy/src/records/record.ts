// ExchangeSummary → the analytics record: one compact JSON line per request, snake_case, numbers as numbers, no
// arrays (Loki's `| json` skips them). Capture modes, redaction and the line-size guard are applied here, so
// every path that emits a record (success, failure, rejection, abort) gets them.
import type { PromptParts } from "../upstream/types.ts";
import type { CaptureMode } from "../config.ts";
import type { ExchangeSummary, Outcome } from "../exchange/outcome.ts";
import type { RecordEnvelope } from "../delivery/envelope.ts";
import type { Redactor } from "./redact.ts";

export interface RecordOptions {
  readonly capturePrompts: CaptureMode;
  readonly captureResponses: CaptureMode;
  readonly maxChars: number;
  /** Loki's max_line_size (256 KB by default) minus headroom; a record never exceeds it. */
  readonly maxLineBytes: number;
  readonly redact: Redactor;
  readonly categorize: (prompt: string, parts?: PromptParts) => string;
}

/** The record's fields. Optional numbers are left out when unknown rather than written as 0. */
export interface AnalyticsRecord {
  time: number;
  request_id: string;
  /** Tracing on: the exchange's span, one click away in Tempo. */
  trace_id?: string;
  span_id?: string;
  endpoint: string;
  api: string;
  method: string;
  model: string;
  model_requested?: string;
  /** The Ollama server that served it (OLLAMA_BACKENDS name, "default" for OLLAMA_URL); absent when none did. */
  backend?: string;
  stream: boolean;
  status: number;
  outcome: string;
  /** How Grafana colours the line: Loki reads a JSON line's `level` (without one it guesses from words in the
   * prompt, e.g. "critical"). */
  level: RecordLevel;
  error?: string;
  done_reason?: string;
  duration_ms: number;
  ttft_ms?: number;
  prompt_tokens?: number;
  completion_tokens?: number;
  tokens_per_second?: number;
  load_ms?: number;
  prompt_eval_ms?: number;
  eval_ms?: number;
  request_bytes: number;
  response_bytes: number;
  client_ip: string;
  user_agent: string;
  client: string;
  category: string;
  prompt?: string;
  prompt_chars: number;
  prompt_truncated: boolean;
  response?: string;
  response_chars: number;
  response_truncated: boolean;
  images: number;
  cost?: number;
}

export type RecordLevel = "info" | "warn" | "error";

/** ok → info; the client's side (an abort, a refusal, Ollama's 4xx) → warn; the server's side → error. */
export function levelOf(outcome: Outcome, status: number): RecordLevel {
  if (outcome === "ok") return "info";
  if (status >= 500 || outcome === "stream_error" || outcome === "proxy_error")
    return "error";
  return "warn";
}

const round = (value: number, digits: number) => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};
const ms = (seconds: number | undefined) =>
  seconds === undefined ? undefined : round(seconds * 1000, 3);

interface Captured {
  text: string | undefined;
  truncated: boolean;
}

function capture(
  text: string,
  fullChars: number,
  mode: CaptureMode,
  maxChars: number,
): Captured {
  if (mode === "none") return { text: undefined, truncated: fullChars > 0 };
  if (mode === "truncate" && text.length > maxChars)
    return { text: text.slice(0, maxChars), truncated: true };
  return { text, truncated: text.length < fullChars };
}

/** Decode speed: Ollama's own eval timings when it reports them, else the wall clock after the first token. */
function tokensPerSecond(summary: ExchangeSummary): number | undefined {
  const usage = summary.tap?.usage;
  if (!usage?.completionTokens) return undefined;
  if (usage.evalDurationSeconds)
    return round(usage.completionTokens / usage.evalDurationSeconds, 2);
  if (summary.ttftSeconds === undefined) return undefined;
  const decodeSeconds = summary.durationSeconds - summary.ttftSeconds;
  return decodeSeconds > 0
    ? round(usage.completionTokens / decodeSeconds, 2)
    : undefined;
}

/** `costUsd`: the estimated cost of the request's tokens, when prices are configured. */
export function buildRecord(
  summary: ExchangeSummary,
  options: RecordOptions,
  costUsd?: number,
): AnalyticsRecord {
  const { request, tap } = summary;
  const usage = tap?.usage ?? {};
  const prompt = capture(
    options.redact(request.prompt),
    request.promptChars,
    options.capturePrompts,
    options.maxChars,
  );
  const response = capture(
    options.redact(tap?.response ?? ""),
    tap?.responseChars ?? 0,
    options.captureResponses,
    options.maxChars,
  );
  const status = summary.status ?? 499;
  const record: AnalyticsRecord = {
    time: summary.startedAtMs,
    request_id: summary.requestId,
    ...(summary.traceId !== undefined && {
      trace_id: summary.traceId,
      span_id: summary.spanId,
    }),
    endpoint: summary.route.endpoint,
    api: summary.route.api,
    method: summary.method,
    model: summary.model,
    ...(summary.backend !== "" && { backend: summary.backend }),
    stream: request.stream,
    status,
    outcome: summary.outcome,
    level: levelOf(summary.outcome, status),
    duration_ms: round(summary.durationSeconds * 1000, 3),
    request_bytes: summary.requestBytes,
    response_bytes: summary.responseBytes,
    client_ip: summary.clientIp,
    user_agent: options.redact(summary.userAgent),
    client: summary.client,
    category: summary.route.inference
      ? options.categorize(request.prompt, request.promptParts)
      : "none",
    prompt_chars: request.promptChars,
    prompt_truncated: prompt.truncated,
    response_chars: tap?.responseChars ?? 0,
    response_truncated: response.truncated,
    images: request.images,
  };
  if (request.model !== undefined && request.model !== summary.model)
    record.model_requested = request.model;
  if (summary.error !== undefined) record.error = options.redact(summary.error);
  if (tap?.doneReason !== undefined) record.done_reason = tap.doneReason;
  const ttft = ms(summary.ttftSeconds);
  if (ttft !== undefined) record.ttft_ms = ttft;
  if (usage.promptTokens !== undefined)
    record.prompt_tokens = usage.promptTokens;
  if (usage.completionTokens !== undefined)
    record.completion_tokens = usage.completionTokens;
  const speed = tokensPerSecond(summary);
  if (speed !== undefined) record.tokens_per_second = speed;
  const load = ms(usage.loadDurationSeconds);
  if (load !== undefined) record.load_ms = load;
  const promptEval = ms(usage.promptEvalDurationSeconds);
  if (promptEval !== undefined) record.prompt_eval_ms = promptEval;
  const evalMs = ms(usage.evalDurationSeconds);
  if (evalMs !== undefined) record.eval_ms = evalMs;
  if (prompt.text !== undefined) record.prompt = prompt.text;
  if (response.text !== undefined) record.response = response.text;
  if (costUsd !== undefined) record.cost = costUsd;
  return record;
}

/**
 * Serialises a record so that it fits in one Loki line: when the JSON is too large (CAPTURE_*=full, or huge
 * error texts) the prompt, response and error are cut further and flagged truncated.
 */
export function serializeRecord(
  record: AnalyticsRecord,
  maxLineBytes: number,
): string {
  let line = JSON.stringify(record);
  let bytes = Buffer.byteLength(line);
  const shrinkable = ["prompt", "response", "error", "user_agent"] as const;
  let attempts = 0;
  while (bytes > maxLineBytes && attempts < 20) {
    attempts++;
    const excess = bytes - maxLineBytes;
    // Cut the longest text first; characters can take up to 6 bytes once JSON-escaped.
    const longest = shrinkable
      .filter(
        (key) => typeof record[key] === "string" && record[key].length > 0,
      )
      .sort((a, b) => (record[b]?.length ?? 0) - (record[a]?.length ?? 0))[0];
    if (longest === undefined) break;
    const text = record[longest] ?? "";
    record[longest] = text.slice(0, Math.max(0, text.length - excess - 64));
    if (longest === "prompt") record.prompt_truncated = true;
    if (longest === "response") record.response_truncated = true;
    line = JSON.stringify(record);
    bytes = Buffer.byteLength(line);
  }
  return line;
}

export function toEnvelope(
  record: AnalyticsRecord,
  maxLineBytes: number,
): RecordEnvelope {
  return {
    timeMs: record.time,
    requestId: record.request_id,
    line: serializeRecord(record, maxLineBytes),
  };
}
