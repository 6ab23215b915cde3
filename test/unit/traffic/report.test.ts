import { describe, expect, it } from "vitest";
import {
  formatProgress,
  formatSummary,
} from "../../../tools/traffic/report.ts";
import type { Summary } from "../../../tools/traffic/stats.ts";

const summary: Summary = {
  url: "http://localhost:11434",
  mode: "quick",
  seed: 7,
  elapsedMs: 12_345,
  requests: 30,
  ok: 27,
  errors: 3,
  errorsByKind: { model_not_found: 1, aborted: 1, http_5xx: 1 },
  injectedErrors: 2,
  interrupted: 0,
  byKind: {
    "chat-stream": { requests: 20, errors: 1 },
    embed: { requests: 10, errors: 0 },
  },
  byModel: { "llama3.2:latest": 20, "all-minilm:latest": 10 },
  byCategory: { code: 30 },
  ttftMs: { count: 19, p50: 120.4, p95: 340.6, p99: 512 },
  latencyMs: { count: 27, p50: 1500, p95: 4200, p99: 5100 },
  outputTokensPerSecond: { count: 19, p50: 41.25, p95: 55, p99: 60.04 },
  outputTokens: 4000,
  throughputTokensPerSecond: 324.02,
  requestsPerSecond: 2.43,
  sampleErrors: ["http_5xx: model runner crashed"],
};

describe("formatSummary", () => {
  const text = formatSummary(summary);

  it("states where, how and how long", () => {
    expect(text).toContain("http://localhost:11434");
    expect(text).toContain("mode quick");
    expect(text).toContain("seed 7");
    expect(text).toContain("12s");
  });

  it("counts requests and errors by kind, marking the injected ones", () => {
    expect(text).toMatch(/requests\s+30 \(27 ok, 3 errors\)\s+2\.43 req\/s/);
    expect(text).toContain(
      "model_not_found 1, aborted 1, http_5xx 1 (2 injected on purpose)",
    );
    expect(text).toContain("http_5xx: model runner crashed");
    expect(text).toContain("chat-stream 20, embed 10");
  });

  it("lays out the percentile table in aligned columns", () => {
    const rows = text
      .split("\n")
      .filter((line) => /TTFT|latency ms|tokens\/s \(streams\)|p50/.test(line));
    expect(rows).toHaveLength(4);
    expect(rows[1]).toMatch(/TTFT ms \(streams\)\s+19\s+120\s+341\s+512$/);
    expect(rows[2]).toMatch(/latency ms\s+27\s+1500\s+4200\s+5100$/);
    expect(rows[3]).toMatch(
      /output tokens\/s \(streams\)\s+19\s+41\.3\s+55\.0\s+60\.0$/,
    );
    const ends = new Set(rows.map((row) => row.length));
    expect(ends.size).toBe(1);
  });

  it("prints dashes when nothing was measured", () => {
    const empty = formatSummary({
      ...summary,
      ttftMs: undefined,
      latencyMs: undefined,
      outputTokensPerSecond: undefined,
      errorsByKind: {},
      injectedErrors: 0,
      sampleErrors: [],
    });
    expect(empty).toMatch(/latency ms\s+0\s+-\s+-\s+-/);
    expect(empty).toMatch(/errors\s+none/);
  });
});

describe("formatProgress", () => {
  it("shows progress by count for a counted run", () => {
    expect(
      formatProgress({
        elapsedMs: 2000,
        done: 15,
        errors: 1,
        inFlight: 4,
        total: 30,
        durationMs: undefined,
      }),
    ).toBe(
      "[##########----------]  50% 2.0s  15/30 done  1 errors  4 in flight  7.5 req/s",
    );
  });

  it("shows progress by time for a timed run", () => {
    expect(
      formatProgress({
        elapsedMs: 75_000,
        done: 150,
        errors: 0,
        inFlight: 2,
        total: undefined,
        durationMs: 300_000,
      }),
    ).toBe(
      "[#####---------------]  25% 1m15s/5m00s  150 done  0 errors  2 in flight  2.0 req/s",
    );
  });
});
