// The analytics router on a real express app in front of a stub Loki: status codes, bodies, CSV bytes and the
// exact requests Loki receives.
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { parser } from "@grafana/lezer-logql";
import express from "express";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { csvHeader, recordToCsvRow } from "@proxy/analytics-api/csv.ts";
import {
  buildSearchQuery,
  buildStatsQueries,
  STAT_QUERY_KEYS,
} from "@proxy/analytics-api/logql.ts";
import {
  createAnalyticsRouter,
  type AnalyticsApiOptions,
} from "@proxy/analytics-api/routes.ts";
import {
  createFakeLokiQuery,
  logStore,
  streamsBody,
  unusedLoopbackUrl,
  vectorBody,
  type FakeEntry,
  type FakeLokiBehaviour,
  type FakeLokiQuery,
} from "../../fixtures/fake-loki-query.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const NS = 1_000_000n;
const selector = {
  service_name: "ollama-proxy",
  log_type: "request",
  env: "test",
};

interface Harness {
  url: string;
  loki: FakeLokiQuery;
  logs: Record<string, unknown>[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function start(
  behaviour?: FakeLokiBehaviour,
  overrides: Partial<AnalyticsApiOptions> = {},
): Promise<Harness> {
  const loki = await createFakeLokiQuery(behaviour);
  cleanups.push(() => loki.close());
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n"))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const app = express();
  app.use(
    "/analytics",
    createAnalyticsRouter(
      {
        lokiUrl: loki.url,
        selector,
        queryTimeoutMs: 2000,
        maxLimit: 5000,
        ...overrides,
      },
      { logger: pino({ level: "debug" }, sink), now: () => NOW },
    ),
  );
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, loki, logs };
}

function record(
  i: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    time: NOW - 60_000 + i * 1000,
    request_id: `req-${i}`,
    endpoint: "/api/chat",
    api: "ollama",
    method: "POST",
    model: "llama3.2:latest",
    stream: true,
    status: 200,
    outcome: "ok",
    duration_ms: 1000 + i,
    prompt_tokens: 10 + i,
    completion_tokens: 20 + i,
    prompt: `user: question ${i}`,
    ...extra,
  };
}

const entry = (r: Record<string, unknown>): FakeEntry => ({
  ts: BigInt(r.time as number) * NS,
  line: JSON.stringify(r),
});

async function getJson(
  url: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url);
  return {
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe("GET /analytics/search", () => {
  it("returns parsed records newest first, with the LogQL it ran", async () => {
    const records = [record(1), record(2), record(3, { model: "qwen3:8b" })];
    const h = await start({
      kind: "answer",
      answer: () => ({
        body: streamsBody([
          entry(records[0] ?? {}),
          { ...entry(records[2] ?? {}), stream: { ...selector, env: "other" } },
          { ts: BigInt(NOW) * NS - 5n, line: "not json at all" },
          entry(records[1] ?? {}),
        ]),
      }),
    });
    const { status, body } = await getJson(
      `${h.url}/analytics/search?model=llama3.2&prompt_search=question&start_time=1735732800&end_time=2025-01-01T12:30:00Z&limit=50`,
    );
    expect(status).toBe(200);
    expect(body.records).toEqual([records[2], records[1], records[0]]);
    expect(body.count).toBe(3);
    const expectedQuery = buildSearchQuery(selector, {
      model: "llama3.2:latest",
      promptSearch: "question",
    });
    expect(body.query).toBe(expectedQuery);

    expect(h.loki.requests).toHaveLength(1);
    const sent = h.loki.requests[0];
    expect(sent?.path).toBe("/loki/api/v1/query_range");
    expect(sent?.query).toBe(expectedQuery);
    expect(Object.fromEntries(sent?.params ?? [])).toMatchObject({
      start: String(BigInt(Date.UTC(2025, 0, 1, 12)) * NS),
      end: String(BigInt(Date.UTC(2025, 0, 1, 12, 30)) * NS),
      limit: "50",
      direction: "backward",
    });
  });

  it("defaults to the last hour, 100 records", async () => {
    const h = await start();
    const { status, body } = await getJson(`${h.url}/analytics/search`);
    expect(status).toBe(200);
    expect(body).toEqual({
      records: [],
      count: 0,
      query: '{service_name="ollama-proxy", log_type="request", env="test"}',
    });
    const params = h.loki.requests[0]?.params;
    expect(params?.get("start")).toBe(String(BigInt(NOW - 3_600_000) * NS));
    expect(params?.get("end")).toBe(String(BigInt(NOW) * NS));
    expect(params?.get("limit")).toBe("100");
  });

  it("returns oldest first with direction=forward", async () => {
    const h = await start({
      kind: "answer",
      answer: () => ({
        body: streamsBody([entry(record(2)), entry(record(1))]),
      }),
    });
    const { body } = await getJson(
      `${h.url}/analytics/search?direction=forward`,
    );
    expect(
      (body.records as { request_id: string }[]).map((r) => r.request_id),
    ).toEqual(["req-1", "req-2"]);
    expect(h.loki.requests[0]?.params.get("direction")).toBe("forward");
  });

  it.each(
    HOSTILE_VALUES.slice(0, 12).map((v) => [JSON.stringify(v).slice(0, 30), v]),
  )(
    "sends hostile value %s to Loki as one escaped literal",
    async (_name, value) => {
      const h = await start();
      const params = new URLSearchParams({
        prompt_search: value,
        client: value,
        model: `${value}:tag`,
      });
      const { status, body } = await getJson(
        `${h.url}/analytics/search?${params.toString()}`,
      );
      expect(status).toBe(200);
      const sent = h.loki.requests[0]?.query ?? "";
      expect(sent).toBe(body.query);
      expect(sent).toBe(
        buildSearchQuery(selector, {
          model: `${value}:tag`.trim(),
          client: value,
          promptSearch: value,
        }),
      );
      let errors = 0;
      parser.parse(sent).iterate({
        enter: (n) => {
          if (n.type.isError) errors++;
        },
      });
      expect(errors).toBe(0);
    },
  );

  it.each([
    ["limit=0", 'invalid limit "0": expected an integer from 1 to 5000'],
    ["limit=abc", 'invalid limit "abc": expected an integer from 1 to 5000'],
    ["status=20x", 'invalid status "20x"'],
    ["outcome=maybe", 'invalid outcome "maybe"'],
    ["direction=up", 'invalid direction "up"'],
    ["start_time=tomorrow", 'invalid start_time "tomorrow"'],
    [
      "start_time=1735732800&end_time=1735729200",
      "start_time must be before end_time",
    ],
    [
      "start_time=1700000000&end_time=1735732800",
      "longer than the maximum of 30d",
    ],
    ["modle=llama3.2", 'unknown parameter "modle"'],
    ["model=a&model=b", 'parameter "model" given more than once'],
  ])("answers 400 for %s without asking Loki", async (query, message) => {
    const h = await start();
    const { status, body } = await getJson(
      `${h.url}/analytics/search?${query}`,
    );
    expect(status).toBe(400);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error).toContain(message);
    expect(h.loki.requests).toHaveLength(0);
  });

  it("honours a smaller configured maximum limit", async () => {
    const h = await start(undefined, { maxLimit: 10 });
    const { status, body } = await getJson(
      `${h.url}/analytics/search?limit=11`,
    );
    expect(status).toBe(400);
    expect(body.error).toContain("from 1 to 10");
  });
});

describe("when Loki is not there", () => {
  it("answers 503 when LOKI_URL is not configured", async () => {
    const h = await start(undefined, { lokiUrl: undefined });
    for (const route of ["search", "stats", "export?format=csv"]) {
      const { status, body } = await getJson(`${h.url}/analytics/${route}`);
      expect(status).toBe(503);
      expect(body).toEqual({
        error: "analytics unavailable: LOKI_URL is not configured",
      });
    }
  });

  it("answers 503 when the connection is refused", async () => {
    const h = await start(undefined, { lokiUrl: await unusedLoopbackUrl() });
    const { status, body } = await getJson(`${h.url}/analytics/search`);
    expect(status).toBe(503);
    expect(body.error).toMatch(
      /^loki unreachable: http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/,
    );
    expect(
      h.logs.some((l) => l.msg === "analytics query failed" && l.level === 40),
    ).toBe(true);
  });

  it("answers 503 when Loki does not answer in time", async () => {
    const h = await start({ kind: "hang" }, { queryTimeoutMs: 200 });
    const started = Date.now();
    const { status, body } = await getJson(`${h.url}/analytics/search`);
    expect(status).toBe(503);
    expect(body.error).toMatch(
      /^loki unreachable: no answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms$/,
    );
    // Bounded by the 200 ms setting: a Loki that never answers would otherwise hold the request.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("answers 503 when Loki drops the connection", async () => {
    const h = await start({ kind: "reset" });
    const { status, body } = await getJson(`${h.url}/analytics/search`);
    expect(status).toBe(503);
    expect(body.error).toMatch(/^loki unreachable: /);
  });

  it("answers in time when Loki is slow but within the timeout", async () => {
    const h = await start({
      kind: "delay",
      ms: 100,
      then: { kind: "answer", answer: () => ({ body: streamsBody([]) }) },
    });
    expect((await getJson(`${h.url}/analytics/search`)).status).toBe(200);
  });

  it("answers 502 with Loki's message when Loki rejects the query", async () => {
    const h = await start({
      kind: "answer",
      answer: () => ({
        status: 400,
        body: "max entries limit per query exceeded, limit > max_entries_limit (5000 > 1000)",
      }),
    });
    const { status, body } = await getJson(
      `${h.url}/analytics/search?limit=5000`,
    );
    expect(status).toBe(502);
    expect(body).toEqual({
      error:
        "loki answered HTTP 400: max entries limit per query exceeded, limit > max_entries_limit (5000 > 1000)",
    });
  });

  it("answers 502 when Loki fails with a 500 or answers garbage", async () => {
    const h = await start({
      kind: "answer",
      answer: () => ({ status: 500, body: { status: "error", error: "boom" } }),
    });
    expect(await getJson(`${h.url}/analytics/search`)).toEqual({
      status: 502,
      body: { error: "loki answered HTTP 500: boom" },
    });
    h.loki.behave({
      kind: "answer",
      answer: () => ({ body: "<html>proxy error</html>" }),
    });
    const garbage = await getJson(`${h.url}/analytics/search`);
    expect(garbage.status).toBe(502);
    expect(garbage.body.error).toMatch(
      /^loki returned an unexpected response: not JSON/,
    );
  });
});

describe("GET /analytics/stats", () => {
  const samples: Record<
    string,
    { metric: Record<string, string>; value: number | string }[]
  > = {
    requests: [
      { metric: { model: "llama3.2:latest" }, value: 40 },
      { metric: { model: "qwen3:8b" }, value: 60 },
    ],
    errors: [{ metric: { model: "qwen3:8b" }, value: 3 }],
    prompt_tokens: [
      { metric: { model: "llama3.2:latest" }, value: 1200 },
      { metric: { model: "qwen3:8b" }, value: 3000 },
    ],
    completion_tokens: [{ metric: { model: "llama3.2:latest" }, value: 800 }],
    avg_tokens_per_second: [
      { metric: { model: "llama3.2:latest" }, value: 42.5 },
    ],
    latency_p50: [{ metric: { model: "llama3.2:latest" }, value: 900 }],
    latency_p95: [{ metric: { model: "llama3.2:latest" }, value: 2500 }],
    latency_p99: [{ metric: { model: "llama3.2:latest" }, value: "NaN" }],
    ttft_p50: [{ metric: { model: "llama3.2:latest" }, value: 120 }],
    ttft_p95: [{ metric: { model: "llama3.2:latest" }, value: 300 }],
  };
  const queries = buildStatsQueries(selector, { rangeMs: 86_400_000 });
  const byQuery = new Map(
    STAT_QUERY_KEYS.map((k) => [queries[k], samples[k] ?? []]),
  );

  it("computes per-model statistics from one instant query per statistic", async () => {
    const h = await start({
      kind: "answer",
      answer: (req) => {
        const s = byQuery.get(req.query);
        return s
          ? { body: vectorBody(s) }
          : { status: 400, body: `unexpected query ${req.query}` };
      },
    });
    const { status, body } = await getJson(
      `${h.url}/analytics/stats?start_time=2025-01-01T00:00:00Z&end_time=2025-01-02T00:00:00Z`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      start_time: "2025-01-01T00:00:00.000Z",
      end_time: "2025-01-02T00:00:00.000Z",
      models: [
        {
          model: "qwen3:8b",
          requests: 60,
          errors: 3,
          prompt_tokens: 3000,
          completion_tokens: null,
          avg_tokens_per_second: null,
          latency_ms: { p50: null, p95: null, p99: null },
          ttft_ms: { p50: null, p95: null },
        },
        {
          model: "llama3.2:latest",
          requests: 40,
          errors: 0,
          prompt_tokens: 1200,
          completion_tokens: 800,
          avg_tokens_per_second: 42.5,
          latency_ms: { p50: 900, p95: 2500, p99: null },
          ttft_ms: { p50: 120, p95: 300 },
        },
      ],
      queries,
    });
    expect(h.loki.requests).toHaveLength(STAT_QUERY_KEYS.length);
    for (const req of h.loki.requests) {
      expect(req.path).toBe("/loki/api/v1/query");
      expect(req.params.get("time")).toBe(
        String(BigInt(Date.UTC(2025, 0, 2)) * NS),
      );
      expect(req.query).toContain("[1d]");
    }
    expect(new Set(h.loki.requests.map((r) => r.query))).toEqual(
      new Set(Object.values(queries)),
    );
  });

  it("filters one model and defaults to the last hour", async () => {
    const h = await start({
      kind: "answer",
      answer: () => ({ body: vectorBody([]) }),
    });
    const { status, body } = await getJson(
      `${h.url}/analytics/stats?model=llama3.2`,
    );
    expect(status).toBe(200);
    expect(body.models).toEqual([]);
    expect(body.queries).toEqual(
      buildStatsQueries(selector, {
        rangeMs: 3_600_000,
        model: "llama3.2:latest",
      }),
    );
    expect(body.start_time).toBe(new Date(NOW - 3_600_000).toISOString());
    expect(
      h.loki.requests.every(
        (r) =>
          r.query.includes('model="llama3.2:latest"') &&
          r.query.includes("[1h]"),
      ),
    ).toBe(true);
  });

  it("answers 502 when one of the queries fails", async () => {
    const h = await start({
      kind: "answer",
      answer: (req) =>
        req.query.startsWith("quantile_over_time(0.99")
          ? {
              status: 400,
              body: "maximum of series (500) reached for a single query",
            }
          : { body: vectorBody([]) },
    });
    const { status, body } = await getJson(`${h.url}/analytics/stats`);
    expect(status).toBe(502);
    expect(body).toEqual({
      error:
        "loki answered HTTP 400: maximum of series (500) reached for a single query",
    });
  });

  it("answers 400 for parameters it does not take", async () => {
    const h = await start();
    const { status, body } = await getJson(`${h.url}/analytics/stats?limit=5`);
    expect(status).toBe(400);
    expect(body.error).toContain('unknown parameter "limit"');
  });
});

describe("GET /analytics/export", () => {
  // 12 records one second apart, two of them sharing a timestamp, so pages end mid-timestamp.
  const records = Array.from({ length: 12 }, (_, i) => record(i));
  const entries = records.map((r, i) =>
    i === 5
      ? { ...entry(r), ts: BigInt((records[4]?.time as number) ?? 0) * NS }
      : entry(r),
  );
  const newestFirst = [...entries]
    .map((e, i) => ({ e, r: records[i] ?? {} }))
    .sort((a, b) => (a.e.ts === b.e.ts ? 0 : a.e.ts > b.e.ts ? -1 : 1));

  it("streams every record as CSV, paging Loki by time", async () => {
    const h = await start(
      { kind: "answer", answer: logStore(entries) },
      { maxLimit: 5 },
    );
    const response = await fetch(
      `${h.url}/analytics/export?format=csv&model=llama3.2`,
    );
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe(
      "text/csv; charset=utf-8",
    );
    expect(response.headers.get("content-disposition")).toBe(
      'attachment; filename="ollama-analytics-20250101T110000Z-20250101T120000Z.csv"',
    );
    const text = await response.text();
    const lines = text.split("\r\n");
    expect(lines).toHaveLength(1 + 12 + 1); // header, 12 rows, "" after the last CRLF
    expect(text).toBe(
      csvHeader() + newestFirst.map(({ r }) => recordToCsvRow(r)).join(""),
    );
    expect(new Set(lines.slice(1, -1)).size).toBe(12);

    const pages = h.loki.requests;
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(
      pages.every(
        (p) =>
          p.query === buildSearchQuery(selector, { model: "llama3.2:latest" }),
      ),
    ).toBe(true);
    expect(pages.every((p) => Number(p.params.get("limit")) <= 5)).toBe(true);
    const ends = pages.map((p) => BigInt(p.params.get("end") ?? "0"));
    expect([...ends].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))).toEqual(
      ends,
    );
  });

  it("exports a JSON array", async () => {
    const h = await start(
      { kind: "answer", answer: logStore(entries) },
      { maxLimit: 4 },
    );
    const response = await fetch(`${h.url}/analytics/export?format=json`);
    expect(response.headers.get("content-type")).toBe(
      "application/json; charset=utf-8",
    );
    expect(response.headers.get("content-disposition")).toMatch(
      /^attachment; filename=".*\.json"$/,
    );
    expect(await response.json()).toEqual(newestFirst.map(({ r }) => r));
  });

  it("exports an empty JSON array and a header-only CSV when nothing matches", async () => {
    const h = await start();
    expect(await (await fetch(`${h.url}/analytics/export`)).json()).toEqual([]);
    expect(
      await (await fetch(`${h.url}/analytics/export?format=csv`)).text(),
    ).toBe(csvHeader());
  });

  it("stops at limit", async () => {
    const h = await start(
      { kind: "answer", answer: logStore(entries) },
      { maxLimit: 5 },
    );
    const body = (await (
      await fetch(`${h.url}/analytics/export?limit=7`)
    ).json()) as unknown[];
    expect(body).toEqual(newestFirst.slice(0, 7).map(({ r }) => r));
  });

  it("escapes CSV cells and defuses formulas", async () => {
    const hostile = record(1, {
      prompt: "system: be \"nice\", ok\nuser: =cmd|' /C calc'!A0",
      client: "@admin",
      user_agent: "-x",
      error: "+1",
    });
    const h = await start({
      kind: "answer",
      answer: logStore([entry(hostile)]),
    });
    const text = await (
      await fetch(`${h.url}/analytics/export?format=csv`)
    ).text();
    const row = text.slice(csvHeader().length);
    expect(row).toContain(
      '"system: be ""nice"", ok\nuser: =cmd|\' /C calc\'!A0"',
    );
    expect(row).toContain(",'@admin,");
    expect(row).toContain(",'-x,");
    expect(row).toContain(",'+1,");
  });

  it("answers 503 (not a partial file) when Loki is down from the start", async () => {
    const h = await start(undefined, { lokiUrl: await unusedLoopbackUrl() });
    const response = await fetch(`${h.url}/analytics/export?format=csv`);
    expect(response.status).toBe(503);
    expect(response.headers.get("content-disposition")).toBeNull();
    expect(((await response.json()) as { error: string }).error).toMatch(
      /^loki unreachable: /,
    );
  });

  it("cuts the download short when Loki fails mid-export, so it cannot pass for complete", async () => {
    const store = logStore(entries);
    let calls = 0;
    const h = await start(
      {
        kind: "answer",
        answer: (req) =>
          ++calls === 1
            ? store(req)
            : { status: 500, body: "ingester went away" },
      },
      { maxLimit: 5 },
    );
    const response = await fetch(`${h.url}/analytics/export?format=json`);
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect(
      h.logs.some((l) => l.msg === "export cut short by a Loki failure"),
    ).toBe(true);
  });

  it("answers 400 for a bad format", async () => {
    const h = await start();
    const { status, body } = await getJson(
      `${h.url}/analytics/export?format=xlsx`,
    );
    expect(status).toBe(400);
    expect(body).toEqual({
      error: 'invalid format "xlsx": expected json or csv',
    });
  });
});
