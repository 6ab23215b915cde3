// ExchangeSummary → metric updates. The only caller of prom-client setters for request metrics.
import type { ExchangeSummary } from "../exchange/outcome.ts";
import { INFERENCE_ENDPOINTS } from "../upstream/routes.ts";
import type { Histogram } from "prom-client";
import type { Metrics } from "./definitions.ts";

export interface RecordOptions {
  readonly clientLabel: boolean;
  /** Bounded client label: the configured client names, anything else "_other". */
  readonly clientLabelOf: (client: string) => string;
}

/** Parse-error series of every inference endpoint exist at 0 from the start, so that rate() sees the first one. */
export function initializeRequestMetrics(metrics: Metrics): void {
  for (const endpoint of INFERENCE_ENDPOINTS)
    metrics.parseErrors.inc({ endpoint, reason: "unparsable" }, 0);
}

/**
 * A histogram that takes exemplars (an OpenMetrics registry) only accepts prom-client's object form of observe,
 * with or without exemplar labels; on a plain registry the exemplar is dropped.
 */
function observeLatency(
  metrics: Metrics,
  histogram: Histogram<"model" | "endpoint" | "backend">,
  labels: { model: string; endpoint: string; backend: string },
  value: number,
  exemplar: { trace_id: string } | undefined,
): void {
  if (!metrics.exemplars) {
    histogram.observe(labels, value);
    return;
  }
  // prom-client types exemplar labels as the metric's own label names; any names are valid.
  const exemplarLabels = (exemplar ?? {}) as Record<string, string>;
  histogram.observe({ labels, value, exemplarLabels });
}

/**
 * What a streaming client feels between tokens once the first arrived: (duration − TTFT) / (output tokens − 1),
 * the GenAI conventions' time per output token. Undefined without a stream, a first token or two output tokens.
 */
export function timePerOutputToken(
  summary: ExchangeSummary,
): number | undefined {
  const tokens = summary.tap?.usage.completionTokens;
  if (summary.ttftSeconds === undefined || tokens === undefined || tokens < 2)
    return undefined;
  if (summary.outcome !== "ok") return undefined;
  return (
    Math.max(0, summary.durationSeconds - summary.ttftSeconds) / (tokens - 1)
  );
}

/** `costUsd`: the estimated cost of the exchange's tokens (PRICING_FILE), undefined when its model has no price. */
export function recordExchange(
  metrics: Metrics,
  summary: ExchangeSummary,
  options: RecordOptions,
  costUsd?: number,
): void {
  const { modelLabel: model, route, backend } = summary;
  const endpoint = route.endpoint;
  const client = options.clientLabel
    ? { client: options.clientLabelOf(summary.client) }
    : {};

  metrics.requests.inc({
    model,
    endpoint,
    status: summary.statusLabel,
    backend,
    ...client,
  });
  // A sampled trace's id: one click from a slow point on a latency panel to the request's trace.
  const exemplar =
    summary.traceSampled && summary.traceId
      ? { trace_id: summary.traceId }
      : undefined;
  observeLatency(
    metrics,
    metrics.requestDuration,
    { model, endpoint, backend },
    summary.durationSeconds,
    exemplar,
  );
  metrics.requestBytes.inc({ endpoint }, summary.requestBytes);
  metrics.responseBytes.inc({ endpoint }, summary.responseBytes);
  if (summary.ttftSeconds !== undefined)
    observeLatency(
      metrics,
      metrics.timeToFirstToken,
      { model, endpoint, backend },
      summary.ttftSeconds,
      exemplar,
    );

  if (summary.tap?.parseErrors) {
    metrics.parseErrors.inc(
      { endpoint, reason: "unparsable" },
      summary.tap.parseErrors,
    );
  }
  const usage = summary.tap?.usage;
  if (!usage || !route.inference) return;
  const perToken = timePerOutputToken(summary);
  if (perToken !== undefined)
    metrics.timePerOutputToken.observe({ model, endpoint, backend }, perToken);
  if (costUsd !== undefined && costUsd > 0) {
    metrics.estimatedCost.inc(
      { model, client: options.clientLabelOf(summary.client) },
      costUsd,
    );
  }
  if (usage.promptTokens)
    metrics.promptTokens.inc(
      { model, endpoint, backend, ...client },
      usage.promptTokens,
    );
  if (usage.completionTokens)
    metrics.completionTokens.inc(
      { model, endpoint, backend, ...client },
      usage.completionTokens,
    );
  if (usage.loadDurationSeconds !== undefined) {
    metrics.loadDuration.observe({ model, backend }, usage.loadDurationSeconds);
    // With no model load in it, Ollama's load_duration is the time the request waited for a runner.
    if (summary.modelWarm)
      metrics.ollamaQueueWait.observe(
        { model, backend },
        usage.loadDurationSeconds,
      );
  }
  if (usage.promptEvalDurationSeconds !== undefined) {
    metrics.promptEvalDuration.observe(
      { model, backend },
      usage.promptEvalDurationSeconds,
    );
  }
  if (usage.evalDurationSeconds !== undefined) {
    metrics.evalDuration.observe({ model, backend }, usage.evalDurationSeconds);
    if (usage.completionTokens && usage.evalDurationSeconds > 0) {
      metrics.tokensPerSecond.observe(
        { model, backend },
        usage.completionTokens / usage.evalDurationSeconds,
      );
    }
  }
}
