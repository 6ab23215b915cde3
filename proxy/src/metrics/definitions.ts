// Every metric name, help text, label set and bucket layout, in one place. Dashboards, alert rules and the
// README's metric table depend on these names: change one only together with them.
// Buckets are sized for local LLM serving (reference/observability.md §6.2): a cold load pushes TTFT to tens of
// seconds and CPU inference can take minutes per answer.
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type RegistryContentType,
} from "prom-client";

export const TTFT_BUCKETS_SECONDS = [
  0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160,
];
export const DURATION_BUCKETS_SECONDS = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600,
];
export const TIME_PER_OUTPUT_TOKEN_BUCKETS_SECONDS = [
  0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1,
];
export const LOAD_BUCKETS_SECONDS = [0.1, 0.5, 1, 2, 5, 10, 20, 40, 80, 160];
export const EVAL_BUCKETS_SECONDS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320,
];
export const TOKENS_PER_SECOND_BUCKETS = [
  1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300,
];
export const QUEUE_WAIT_BUCKETS_SECONDS = [
  0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
export const PUSH_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

// Known label values of the reason counters, exported at 0 from the start: increase() and rate() cannot see a
// series' first sample, so an alert on the first drop would otherwise never fire.
export const RECORD_OUTCOMES = [
  "enqueued",
  "shipped",
  "retried",
  "dropped",
] as const;
export const RECORD_DROP_REASONS = [
  "memory_full",
  "rejected_400",
  "too_large",
  "outbox_trimmed",
  "malformed",
  "shutdown",
  "stdout_error",
  "build_failed",
  "thread_exit",
] as const;
export const SPAN_DROP_REASONS = ["queue_full", "export_failed"] as const;

export const UPSTREAM_ERROR_REASONS = [
  "connect",
  "timeout",
  "reset",
  "other",
] as const;
export const REJECT_REASONS = [
  "bad_request_target",
  "host_not_allowed",
  "body_too_large",
  "unauthorized",
  "forbidden_model",
  "admin_required",
  "rate_limited",
  "tokens_exhausted",
  "concurrency",
  "queue_timeout",
  "queue_full",
  "redis_unavailable",
  "model_not_found",
  "backends_busy",
  "unknown_backend",
] as const;

export interface MetricsOptions {
  /** Adds a bounded `client` label to the request and token metrics (METRICS_CLIENT_LABEL). */
  clientLabel: boolean;
  /**
   * Process and Node.js metrics (default true). Off in worker threads: their registries are summed into the main
   * one, and process-wide figures (CPU, RSS) would be counted twice.
   */
  processMetrics?: boolean;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Registers every metric on `registry` (never the global one) and returns typed handles. */
export function createMetrics(
  registry: Registry<RegistryContentType>,
  options: MetricsOptions = { clientLabel: false },
) {
  const registers = [registry];
  // prom-client keeps exemplars only on an OpenMetrics registry (main.ts); tests may pass a plain one.
  const exemplars = registry.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  const withClient = <T extends string>(labels: T[]): T[] =>
    options.clientLabel ? [...labels, "client" as T] : labels;

  if (options.processMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: "ollama_proxy_" });

  const metrics = {
    /** requestDuration and timeToFirstToken take exemplars (observe with exemplarLabels). */
    exemplars,
    requests: new Counter({
      name: "ollama_requests_total",
      help: "Requests through the proxy, by the status the client got (stream_error: an error after a 200)",
      labelNames: withClient(["model", "endpoint", "status", "backend"]),
      registers,
    }),
    requestDuration: new Histogram({
      name: "ollama_request_duration_seconds",
      help: "End-to-end request duration as the client sees it",
      labelNames: ["model", "endpoint", "backend"],
      buckets: DURATION_BUCKETS_SECONDS,
      enableExemplars: exemplars,
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: "ollama_time_to_first_token_seconds",
      help: "Streaming only: request received to the first chunk carrying content, thinking or a tool call",
      labelNames: ["model", "endpoint", "backend"],
      buckets: TTFT_BUCKETS_SECONDS,
      enableExemplars: exemplars,
      registers,
    }),
    timePerOutputToken: new Histogram({
      name: "ollama_time_per_output_token_seconds",
      help: "Streaming only: time between output tokens as the client sees it, (duration - TTFT) / (output tokens - 1)",
      labelNames: ["model", "endpoint", "backend"],
      buckets: TIME_PER_OUTPUT_TOKEN_BUCKETS_SECONDS,
      registers,
    }),
    promptTokens: new Counter({
      name: "ollama_prompt_tokens_total",
      help: "Prompt (input) tokens as reported by Ollama, cache hits included",
      labelNames: withClient(["model", "endpoint", "backend"]),
      registers,
    }),
    completionTokens: new Counter({
      name: "ollama_completion_tokens_total",
      help: "Completion (output) tokens as reported by Ollama",
      labelNames: withClient(["model", "endpoint", "backend"]),
      registers,
    }),
    loadDuration: new Histogram({
      name: "ollama_load_duration_seconds",
      help: "Ollama's load_duration: queue wait plus model load before the runner was ready",
      labelNames: ["model", "backend"],
      buckets: LOAD_BUCKETS_SECONDS,
      registers,
    }),
    ollamaQueueWait: new Histogram({
      name: "ollama_queue_wait_seconds",
      help: "Ollama's load_duration for requests to a model it had loaded already (per /api/ps): its queue wait",
      labelNames: ["model", "backend"],
      buckets: QUEUE_WAIT_BUCKETS_SECONDS,
      registers,
    }),
    promptEvalDuration: new Histogram({
      name: "ollama_prompt_eval_duration_seconds",
      help: "Ollama's prompt_eval_duration: prefill time for the tokens actually evaluated",
      labelNames: ["model", "backend"],
      buckets: EVAL_BUCKETS_SECONDS,
      registers,
    }),
    evalDuration: new Histogram({
      name: "ollama_eval_duration_seconds",
      help: "Ollama's eval_duration: decode time of the generated tokens",
      labelNames: ["model", "backend"],
      buckets: EVAL_BUCKETS_SECONDS,
      registers,
    }),
    tokensPerSecond: new Histogram({
      name: "ollama_tokens_per_second",
      help: "Decode speed per request: eval_count / eval_duration",
      labelNames: ["model", "backend"],
      buckets: TOKENS_PER_SECOND_BUCKETS,
      registers,
    }),
    inFlight: new Gauge({
      name: "ollama_requests_in_flight",
      help: "Requests currently being proxied",
      labelNames: ["model", "endpoint", "backend"],
      registers,
    }),
    requestBytes: new Counter({
      name: "ollama_request_bytes_total",
      help: "Request body bytes received from clients",
      labelNames: ["endpoint"],
      registers,
    }),
    responseBytes: new Counter({
      name: "ollama_response_bytes_total",
      help: "Response body bytes sent to clients",
      labelNames: ["endpoint"],
      registers,
    }),
    promptCategory: new Counter({
      name: "ollama_prompt_category_total",
      help: "Requests by prompt category (a bounded set from cheap rules)",
      labelNames: ["model", "category"],
      registers,
    }),
    estimatedCost: new Counter({
      name: "ollama_estimated_cost_total",
      help: "Estimated cost of the tokens at the configured prices (PRICING_FILE), in the file's currency",
      labelNames: ["model", "client"],
      registers,
    }),

    // Polled from Ollama (/api/version, /api/ps, /api/tags).
    upstreamUp: new Gauge({
      name: "ollama_upstream_up",
      help: "1 when the last poll of the backend (an Ollama server) succeeded",
      labelNames: ["backend"],
      registers,
    }),
    upstreamInfo: new Gauge({
      name: "ollama_upstream_info",
      help: "Ollama's version, from /api/version (value is always 1)",
      labelNames: ["version", "backend"],
      registers,
    }),
    modelLoaded: new Gauge({
      name: "ollama_model_loaded",
      help: "1 for each model loaded in memory (/api/ps)",
      labelNames: ["model", "backend"],
      registers,
    }),
    modelMemory: new Gauge({
      name: "ollama_model_memory_bytes",
      help: "Memory of each loaded model: kind=total (size) or vram (size_vram)",
      labelNames: ["model", "kind", "backend"],
      registers,
    }),
    modelExpiresAt: new Gauge({
      name: "ollama_model_expires_at_seconds",
      help: "Unix time at which a loaded model is unloaded (keep_alive)",
      labelNames: ["model", "backend"],
      registers,
    }),
    modelInstalled: new Gauge({
      name: "ollama_model_installed",
      help: "1 for each model installed on a backend (/api/tags); kept while the backend is down (what it had)",
      labelNames: ["model", "backend"],
      registers,
    }),
    modelsAvailable: new Gauge({
      name: "ollama_models_available",
      help: "Models installed in the backend (/api/tags)",
      labelNames: ["backend"],
      registers,
    }),

    // The proxy's own machinery.
    buildInfo: new Gauge({
      name: "ollama_proxy_build_info",
      help: "Proxy version and Node.js version (value is always 1)",
      labelNames: ["version", "node_version"],
      registers,
    }),
    upstreamErrors: new Counter({
      name: "ollama_proxy_upstream_errors_total",
      help: "Failures talking to Ollama: connect (refused/unreachable), timeout, reset",
      labelNames: ["reason", "backend"],
      registers,
    }),
    parseErrors: new Counter({
      name: "ollama_proxy_parse_errors_total",
      help: "Responses the tap could not fully parse (the client still got every byte)",
      labelNames: ["endpoint", "reason"],
      registers,
    }),
    records: new Counter({
      name: "ollama_proxy_records_total",
      help: "Analytics records by pipeline stage: enqueued, shipped, retried, dropped",
      labelNames: ["outcome"],
      registers,
    }),
    recordsDropped: new Counter({
      name: "ollama_proxy_records_dropped_total",
      help: "Analytics records lost, by reason",
      labelNames: ["reason"],
      registers,
    }),
    analyticsBacklog: new Gauge({
      name: "ollama_proxy_analytics_backlog",
      help: "Finished requests handed to the analytics thread whose records are not built yet",
      registers,
    }),
    outboxDepth: new Gauge({
      name: "ollama_proxy_outbox_depth",
      help: "Analytics records waiting to be shipped to Loki",
      registers,
    }),
    outboxOldestAge: new Gauge({
      name: "ollama_proxy_outbox_oldest_age_seconds",
      help: "Age of the oldest analytics record waiting to be shipped",
      registers,
    }),
    lokiPushDuration: new Histogram({
      name: "ollama_proxy_loki_push_duration_seconds",
      help: "Duration of pushes to Loki, by result (2xx, 4xx, 5xx, 429, error)",
      labelNames: ["result"],
      buckets: PUSH_BUCKETS_SECONDS,
      registers,
    }),
    queueWait: new Histogram({
      name: "ollama_proxy_queue_wait_seconds",
      help: "Time requests waited for a concurrency slot in front of Ollama",
      buckets: QUEUE_WAIT_BUCKETS_SECONDS,
      registers,
    }),
    spansExported: new Counter({
      name: "ollama_proxy_trace_spans_exported_total",
      help: "Spans the OTLP collector accepted (tracing on)",
      registers,
    }),
    spansDropped: new Counter({
      name: "ollama_proxy_trace_spans_dropped_total",
      help: "Spans lost: the export queue was full, or the collector failed or refused the export",
      labelNames: ["reason"],
      registers,
    }),
    backendHealthy: new Gauge({
      name: "ollama_proxy_backend_healthy",
      help: "1 while the backend takes traffic: its poll answers and it is not ejected after failures",
      labelNames: ["backend"],
      registers,
    }),
    backendEjections: new Counter({
      name: "ollama_proxy_backend_ejections_total",
      help: "Times a backend was taken out of the rotation after failures (connect, reset, timeout, 5xx)",
      labelNames: ["backend", "reason"],
      registers,
    }),
    backendRetries: new Counter({
      name: "ollama_proxy_backend_retries_total",
      help: "Requests retried on another backend after this one failed before any response byte was sent",
      labelNames: ["backend", "reason"],
      registers,
    }),
    rejected: new Counter({
      name: "ollama_proxy_rejected_total",
      help: "Requests the proxy refused or let through degraded, by reason",
      labelNames: ["reason"],
      registers,
    }),
  };
  for (const outcome of RECORD_OUTCOMES) metrics.records.inc({ outcome }, 0);
  for (const reason of RECORD_DROP_REASONS)
    metrics.recordsDropped.inc({ reason }, 0);
  for (const reason of REJECT_REASONS) metrics.rejected.inc({ reason }, 0);
  for (const reason of SPAN_DROP_REASONS)
    metrics.spansDropped.inc({ reason }, 0);
  return metrics;
}
