import { describe, expect, it } from "vitest";
import {
  percentile,
  percentiles,
  summarize,
} from "../../../tools/traffic/stats.ts";
import type { RequestResult } from "../../../tools/traffic/types.ts";

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it("picks the value at rank ceil(p/100 · n)", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
  });

  it("handles one value and a few values", () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([1, 2, 3], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
  });

  it("is undefined for no values", () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentiles([])).toBeUndefined();
  });

  it("sorts a copy and ignores values that are not finite", () => {
    const values = [30, 10, Number.NaN, 20, Infinity];
    expect(percentiles(values)).toEqual({
      count: 3,
      p50: 20,
      p95: 30,
      p99: 30,
    });
    expect(values).toEqual([30, 10, Number.NaN, 20, Infinity]);
  });
});

const base = {
  requestId: undefined,
  model: "llama3.2",
  category: "code",
  fault: undefined,
  ttftMs: undefined,
  outputTokens: undefined,
  inputTokens: undefined,
};

const results: RequestResult[] = [
  {
    ...base,
    index: 0,
    kind: "chat-stream",
    latencyMs: 1100,
    ttftMs: 100,
    outputTokens: 51,
    outcome: "ok",
  },
  {
    ...base,
    index: 1,
    kind: "chat-stream",
    latencyMs: 2100,
    ttftMs: 100,
    outputTokens: 101,
    outcome: "ok",
  },
  {
    ...base,
    index: 2,
    kind: "chat",
    latencyMs: 900,
    outputTokens: 40,
    outcome: "ok",
  },
  {
    ...base,
    index: 3,
    kind: "embed",
    model: "all-minilm",
    category: "factual",
    latencyMs: 20,
    outcome: "ok",
  },
  {
    ...base,
    index: 4,
    kind: "chat",
    model: "traffic-missing-model:latest",
    fault: "unknown-model",
    latencyMs: 5,
    outcome: "error",
    error: "model_not_found",
    message: "model 'traffic-missing-model:latest' not found",
  },
  {
    ...base,
    index: 5,
    kind: "openai-chat-stream",
    fault: "abort-stream",
    latencyMs: 150,
    ttftMs: 120,
    outcome: "error",
    error: "aborted",
    message: "stream aborted on purpose",
  },
  {
    ...base,
    index: 6,
    kind: "generate",
    latencyMs: 3,
    outcome: "error",
    error: "http_5xx",
    message: "boom",
  },
  {
    ...base,
    index: 7,
    kind: "generate",
    latencyMs: 3,
    outcome: "error",
    error: "http_5xx",
    message: "boom",
  },
  {
    ...base,
    index: 8,
    kind: "chat-stream",
    latencyMs: 50,
    outcome: "interrupted",
  },
];

describe("summarize", () => {
  const summary = summarize(results, {
    url: "http://x",
    mode: "quick",
    seed: 9,
    elapsedMs: 4000,
  });

  it("counts requests, successes, errors by kind, injected errors and interruptions apart", () => {
    expect(summary).toMatchObject({
      requests: 8,
      ok: 4,
      errors: 4,
      injectedErrors: 2,
      interrupted: 1,
      errorsByKind: { model_not_found: 1, http_5xx: 2, aborted: 1 },
    });
    expect(Object.keys(summary.errorsByKind)).toEqual([
      "model_not_found",
      "http_5xx",
      "aborted",
    ]);
  });

  it("counts by request kind, model and category", () => {
    expect(summary.byKind).toEqual({
      "chat-stream": { requests: 2, errors: 0 },
      chat: { requests: 2, errors: 1 },
      generate: { requests: 2, errors: 2 },
      embed: { requests: 1, errors: 0 },
      "openai-chat-stream": { requests: 1, errors: 1 },
    });
    expect(summary.byModel).toEqual({
      "llama3.2": 6,
      "all-minilm": 1,
      "traffic-missing-model:latest": 1,
    });
    expect(summary.byCategory).toEqual({ code: 7, factual: 1 });
  });

  it("takes latency over successes, TTFT and decode rate over successful streams", () => {
    expect(summary.latencyMs).toEqual({
      count: 4,
      p50: 900,
      p95: 2100,
      p99: 2100,
    });
    expect(summary.ttftMs).toEqual({ count: 2, p50: 100, p95: 100, p99: 100 });
    // 51 tokens over 1000 ms and 101 over 2000 ms.
    expect(summary.outputTokensPerSecond).toEqual({
      count: 2,
      p50: 50.5,
      p95: 51,
      p99: 51,
    });
  });

  it("gives throughput over the wall-clock time of the run", () => {
    expect(summary.outputTokens).toBe(192);
    expect(summary.throughputTokensPerSecond).toBe(48);
    expect(summary.requestsPerSecond).toBe(2);
  });

  it("samples distinct real error messages, not the injected ones", () => {
    expect(summary.sampleErrors).toEqual(["http_5xx: boom"]);
  });

  it("summarises an empty run without dividing by zero", () => {
    const empty = summarize([], {
      url: "http://x",
      mode: "quick",
      seed: 1,
      elapsedMs: 0,
    });
    expect(empty).toMatchObject({
      requests: 0,
      ok: 0,
      ttftMs: undefined,
      latencyMs: undefined,
      requestsPerSecond: 0,
      throughputTokensPerSecond: 0,
    });
  });
});
