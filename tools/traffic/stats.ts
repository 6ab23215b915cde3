// Results → summary numbers. Pure: no I/O, no clock.
import { ERROR_KINDS, REQUEST_KINDS, isStreaming } from "./types.ts";
import type { ErrorKind, Fault, RequestKind, RequestResult } from "./types.ts";

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentile (p in 0..100) of an ascending array; undefined when it is empty. */
export function percentile(
  sorted: readonly number[],
  p: number,
): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(
    sorted.length,
    Math.max(1, Math.ceil((p / 100) * sorted.length)),
  );
  return sorted[rank - 1];
}

/** p50/p95/p99 of the finite values; undefined when there are none. */
export function percentiles(
  values: readonly number[],
): Percentiles | undefined {
  const sorted = values
    .filter((value) => Number.isFinite(value))
    .sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  return {
    count: sorted.length,
    p50: percentile(sorted, 50) as number,
    p95: percentile(sorted, 95) as number,
    p99: percentile(sorted, 99) as number,
  };
}

export interface KindCounts {
  requests: number;
  errors: number;
}

export interface Summary {
  url: string;
  mode: string;
  seed: number;
  elapsedMs: number;
  /** Requests that finished (ok or error); interrupted ones are counted apart. */
  requests: number;
  ok: number;
  errors: number;
  errorsByKind: Partial<Record<ErrorKind, number>>;
  /** Errors caused on purpose (unknown model, aborted stream). */
  injectedErrors: number;
  interrupted: number;
  byKind: Partial<Record<RequestKind, KindCounts>>;
  byModel: Record<string, number>;
  byCategory: Record<string, number>;
  /** Successful streams. */
  ttftMs: Percentiles | undefined;
  /** Successful requests. */
  latencyMs: Percentiles | undefined;
  /** Per successful stream: output tokens / (latency − TTFT), i.e. the decode rate the client saw. */
  outputTokensPerSecond: Percentiles | undefined;
  outputTokens: number;
  /** All output tokens over the wall-clock time of the run. */
  throughputTokensPerSecond: number;
  requestsPerSecond: number;
  /** A few distinct error messages, to say what went wrong without a log. */
  sampleErrors: string[];
}

export interface SummaryContext {
  url: string;
  mode: string;
  seed: number;
  elapsedMs: number;
}

const MAX_SAMPLE_ERRORS = 3;

/** What an injected fault is expected to produce; anything else is a real error. */
const EXPECTED_ERROR: Readonly<Record<Fault, ErrorKind>> = {
  "unknown-model": "model_not_found",
  "abort-stream": "aborted",
};

export function summarize(
  results: readonly RequestResult[],
  context: SummaryContext,
): Summary {
  const errorsByKind: Partial<Record<ErrorKind, number>> = {};
  const byKind: Partial<Record<RequestKind, KindCounts>> = {};
  const byModel: Record<string, number> = {};
  const byCategory: Record<string, number> = {};
  const ttft: number[] = [];
  const latency: number[] = [];
  const decodeRate: number[] = [];
  const sampleErrors: string[] = [];
  let ok = 0;
  let errors = 0;
  let injectedErrors = 0;
  let interrupted = 0;
  let outputTokens = 0;

  for (const result of results) {
    if (result.outcome === "interrupted") {
      interrupted++;
      continue;
    }
    const counts = (byKind[result.kind] ??= { requests: 0, errors: 0 });
    counts.requests++;
    byModel[result.model] = (byModel[result.model] ?? 0) + 1;
    byCategory[result.category] = (byCategory[result.category] ?? 0) + 1;
    outputTokens += result.outputTokens ?? 0;
    if (result.outcome === "error") {
      errors++;
      counts.errors++;
      errorsByKind[result.error] = (errorsByKind[result.error] ?? 0) + 1;
      if (
        result.fault !== undefined &&
        result.error === EXPECTED_ERROR[result.fault]
      ) {
        injectedErrors++;
        continue;
      }
      const sample = `${result.error}: ${result.message}`;
      if (
        sampleErrors.length < MAX_SAMPLE_ERRORS &&
        !sampleErrors.includes(sample)
      )
        sampleErrors.push(sample);
      continue;
    }
    ok++;
    latency.push(result.latencyMs);
    if (isStreaming(result.kind) && result.ttftMs !== undefined) {
      ttft.push(result.ttftMs);
      const decodeMs = result.latencyMs - result.ttftMs;
      if (
        result.outputTokens !== undefined &&
        result.outputTokens > 1 &&
        decodeMs > 0
      ) {
        decodeRate.push((result.outputTokens / decodeMs) * 1000);
      }
    }
  }

  const seconds = context.elapsedMs / 1000;
  const requests = ok + errors;
  return {
    ...context,
    requests,
    ok,
    errors,
    errorsByKind: orderKeys(errorsByKind, ERROR_KINDS),
    injectedErrors,
    interrupted,
    byKind: orderKeys(byKind, REQUEST_KINDS),
    byModel,
    byCategory,
    ttftMs: percentiles(ttft),
    latencyMs: percentiles(latency),
    outputTokensPerSecond: percentiles(decodeRate),
    outputTokens,
    throughputTokensPerSecond: seconds > 0 ? outputTokens / seconds : 0,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    sampleErrors,
  };
}

function orderKeys<K extends string, V>(
  record: Partial<Record<K, V>>,
  order: readonly K[],
): Partial<Record<K, V>> {
  const ordered: Partial<Record<K, V>> = {};
  for (const key of order)
    if (record[key] !== undefined) ordered[key] = record[key];
  return ordered;
}
