import { describe, expect, it } from "vitest";
import {
  parseExportParams,
  parseSearchParams,
  parseStatsParams,
  parseTimestamp,
  type ParamLimits,
} from "@proxy/analytics-api/query-params.ts";

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const limits: ParamLimits = {
  nowMs: NOW,
  defaultWindowMs: 3_600_000,
  maxWindowMs: 30 * 86_400_000,
  maxLimit: 5000,
  defaultLimit: 100,
  maxExportRecords: 100_000,
};
const q = (s: string): URLSearchParams => new URLSearchParams(s);

describe("parseTimestamp", () => {
  it.each([
    ["1735689600", Date.UTC(2025, 0, 1)],
    ["1735689600.5", Date.UTC(2025, 0, 1) + 500],
    ["1735689600.1234", Date.UTC(2025, 0, 1) + 123],
    ["0", 0],
    ["2025-01-01T00:00:00Z", Date.UTC(2025, 0, 1)],
    ["2025-01-01t00:00:00z", Date.UTC(2025, 0, 1)],
    ["2025-01-01 00:00:00Z", Date.UTC(2025, 0, 1)],
    ["2025-01-01T00:00:00.123456789Z", Date.UTC(2025, 0, 1) + 123],
    ["2025-01-01T02:00:00+02:00", Date.UTC(2025, 0, 1)],
    ["2024-12-31T19:30:00-04:30", Date.UTC(2025, 0, 1)],
    ["2024-02-29T00:00:00Z", Date.UTC(2024, 1, 29)],
    ["0099-01-01T00:00:00Z", Date.parse("0099-01-01T00:00:00Z")], // not 1999: Date.UTC would map 99 there
  ])("%s", (raw, ms) => {
    expect(parseTimestamp(raw)).toBe(ms);
  });

  it.each([
    "",
    "yesterday",
    "-1",
    "1e9",
    "0x10",
    "1735689600000", // milliseconds: year 56,970 as seconds
    "2025-02-30T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-01-01T24:00:00Z",
    "2025-01-01T00:00:60Z",
    "2025-01-01T00:00:00",
    "2025-01-01",
    "2025-01-01T00:00:00+25:00",
  ])("rejects %j", (raw) => {
    expect(parseTimestamp(raw)).toBeUndefined();
  });
});

describe("parseSearchParams", () => {
  it("defaults to the last hour, 100 records, newest first", () => {
    const parsed = parseSearchParams(q(""), limits);
    expect(parsed).toEqual({
      ok: true,
      value: {
        window: { startMs: NOW - 3_600_000, endMs: NOW },
        filters: {},
        limit: 100,
        direction: "backward",
      },
    });
  });

  it("reads every filter", () => {
    const parsed = parseSearchParams(
      q(
        "model=llama3.2&prompt_search=Hello+World&client=alice&status=404&outcome=upstream_error&endpoint=/api/chat&request_id=r-1&limit=5000&direction=forward&start_time=1735689600&end_time=2025-01-01T01:00:00Z",
      ),
      limits,
    );
    expect(parsed).toEqual({
      ok: true,
      value: {
        window: {
          startMs: Date.UTC(2025, 0, 1),
          endMs: Date.UTC(2025, 0, 1, 1),
        },
        filters: {
          model: "llama3.2:latest",
          promptSearch: "Hello World",
          client: "alice",
          status: { kind: "code", code: 404 },
          outcome: "upstream_error",
          endpoint: "/api/chat",
          requestId: "r-1",
        },
        limit: 5000,
        direction: "forward",
      },
    });
  });

  it("keeps a tagged model name and reads a status class", () => {
    const parsed = parseSearchParams(q("model=qwen3:8b&status=5XX"), limits);
    expect(parsed.ok && parsed.value.filters).toMatchObject({
      model: "qwen3:8b",
      status: { kind: "class", hundreds: 5 },
    });
  });

  it("treats empty values as absent", () => {
    const parsed = parseSearchParams(
      q("model=&prompt_search=&client=&status=&limit="),
      limits,
    );
    expect(parsed.ok && parsed.value.filters).toEqual({});
  });

  it("defaults start_time to one hour before end_time", () => {
    const parsed = parseSearchParams(q("end_time=1735689600"), limits);
    expect(parsed.ok && parsed.value.window).toEqual({
      startMs: Date.UTC(2025, 0, 1) - 3_600_000,
      endMs: Date.UTC(2025, 0, 1),
    });
  });

  it.each([
    ["limit=0", /invalid limit "0": expected an integer from 1 to 5000/],
    ["limit=5001", /invalid limit "5001"/],
    ["limit=ten", /invalid limit "ten"/],
    ["limit=1.5", /invalid limit/],
    ["status=200x", /invalid status "200x"/],
    ["status=600", /invalid status "600"/],
    ["status=6xx", /invalid status/],
    [
      "outcome=fine",
      /invalid outcome "fine": expected one of ok, upstream_error/,
    ],
    ["direction=sideways", /invalid direction "sideways"/],
    ["endpoint=api/chat", /invalid endpoint "api\/chat"/],
    [
      "start_time=yesterday",
      /invalid start_time "yesterday": expected Unix seconds/,
    ],
    ["end_time=1735689600000", /invalid end_time/],
    [
      "start_time=1735689600&end_time=1735689600",
      /start_time must be before end_time/,
    ],
    [
      "start_time=1735693200&end_time=1735689600",
      /start_time must be before end_time/,
    ],
    [
      "start_time=1700000000&end_time=1735689600",
      /longer than the maximum of 30d/,
    ],
    [
      "promt_search=x",
      /unknown parameter "promt_search" \(expected one of: model, prompt_search/,
    ],
    ["format=csv", /unknown parameter "format"/],
    ["model=a&model=b", /parameter "model" given more than once/],
    [
      `prompt_search=${"x".repeat(1025)}`,
      /prompt_search is longer than 1024 characters/,
    ],
    [`client=${"x".repeat(513)}`, /client is longer than 512 characters/],
  ])("rejects %s", (query, message) => {
    const parsed = parseSearchParams(q(query), limits);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});

describe("parseExportParams", () => {
  it("defaults to JSON and up to maxExportRecords records", () => {
    const parsed = parseExportParams(q("client=bob"), limits);
    expect(parsed.ok && parsed.value).toMatchObject({
      format: "json",
      limit: 100_000,
      filters: { client: "bob" },
    });
  });

  it("accepts csv and limits beyond the search maximum", () => {
    const parsed = parseExportParams(q("format=csv&limit=20000"), limits);
    expect(parsed.ok && parsed.value).toMatchObject({
      format: "csv",
      limit: 20_000,
    });
  });

  it.each([
    ["format=xml", /invalid format "xml": expected json or csv/],
    [
      "limit=100001",
      /invalid limit "100001": expected an integer from 1 to 100000/,
    ],
  ])("rejects %s", (query, message) => {
    const parsed = parseExportParams(q(query), limits);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});

describe("parseStatsParams", () => {
  it("takes a window and an optional model", () => {
    expect(
      parseStatsParams(
        q(
          "start_time=2025-01-01T00:00:00Z&end_time=2025-01-02T00:00:00Z&model=llama3.2",
        ),
        limits,
      ),
    ).toEqual({
      ok: true,
      value: {
        window: { startMs: Date.UTC(2025, 0, 1), endMs: Date.UTC(2025, 0, 2) },
        model: "llama3.2:latest",
      },
    });
  });

  it.each([
    [
      "limit=10",
      /unknown parameter "limit" \(expected one of: start_time, end_time, model\)/,
    ],
    ["prompt_search=x", /unknown parameter "prompt_search"/],
    ["end_time=soon", /invalid end_time "soon"/],
  ])("rejects %s", (query, message) => {
    const parsed = parseStatsParams(q(query), limits);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});
