import { describe, expect, it } from "vitest";
import {
  createLokiQueryClient,
  parseLokiErrorBody,
  parseSamplesResponse,
  parseStreamsResponse,
  queryRangePages,
  sortEntries,
  type LokiEntry,
  type LokiQueryClient,
  type LokiResult,
  type RangeQuery,
} from "@proxy/analytics-api/loki-query.ts";

describe("parseStreamsResponse", () => {
  it("collects the entries of every stream", () => {
    const parsed = parseStreamsResponse({
      status: "success",
      data: {
        resultType: "streams",
        result: [
          {
            stream: { env: "a" },
            values: [
              ["2", "two"],
              ["1", "one"],
            ],
          },
          { stream: { env: "b" }, values: [["3", "three", { trace_id: "x" }]] },
        ],
      },
    });
    expect(parsed).toEqual({
      ok: true,
      value: [
        { timestampNs: 2n, line: "two", stream: { env: "a" } },
        { timestampNs: 1n, line: "one", stream: { env: "a" } },
        { timestampNs: 3n, line: "three", stream: { env: "b" } },
      ],
    });
  });

  it("skips malformed entries", () => {
    const parsed = parseStreamsResponse({
      data: {
        resultType: "streams",
        result: [
          {
            stream: {},
            values: [["x", "bad ts"], ["1", 5], "junk", ["2", "ok"]],
          },
          7,
        ],
      },
    });
    expect(parsed.ok && parsed.value.map((e) => e.line)).toEqual(["ok"]);
  });

  it.each([
    [null, /no data object/],
    [
      { data: { resultType: "vector", result: [] } },
      /expected resultType "streams", got "vector"/,
    ],
    [{ data: { resultType: "streams", result: {} } }, /not an array/],
  ])("rejects %j", (body, reason) => {
    const parsed = parseStreamsResponse(body);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});

describe("parseSamplesResponse", () => {
  it("reads a vector", () => {
    expect(
      parseSamplesResponse({
        data: {
          resultType: "vector",
          result: [
            { metric: { model: "a" }, value: [1, "12.5"] },
            { metric: { model: "b" }, value: [1, "NaN"] },
          ],
        },
      }),
    ).toEqual({
      ok: true,
      value: [
        { metric: { model: "a" }, value: 12.5 },
        { metric: { model: "b" }, value: undefined },
      ],
    });
  });

  it("takes the last value of a matrix", () => {
    const parsed = parseSamplesResponse({
      data: {
        resultType: "matrix",
        result: [
          {
            metric: { model: "a" },
            values: [
              [1, "1"],
              [2, "7"],
            ],
          },
        ],
      },
    });
    expect(parsed).toEqual({
      ok: true,
      value: [{ metric: { model: "a" }, value: 7 }],
    });
  });

  it("rejects streams", () => {
    expect(
      parseSamplesResponse({ data: { resultType: "streams", result: [] } }).ok,
    ).toBe(false);
  });
});

describe("parseLokiErrorBody", () => {
  it("reads plain text and JSON errors", () => {
    expect(
      parseLokiErrorBody("parse error at line 1, col 5: syntax error\n"),
    ).toBe("parse error at line 1, col 5: syntax error");
    expect(
      parseLokiErrorBody(
        '{"status":"error","errorType":"bad_data","error":"max series reached"}',
      ),
    ).toBe("max series reached");
    expect(parseLokiErrorBody("")).toBe("(empty body)");
  });
});

const okStreams = JSON.stringify({
  status: "success",
  data: { resultType: "streams", result: [] },
});

function recordingFetch(
  respond: (
    url: URL,
    init: RequestInit | undefined,
  ) => Promise<Response> | Response,
): {
  fetch: typeof fetch;
  calls: { url: URL; init: RequestInit | undefined }[];
} {
  const calls: { url: URL; init: RequestInit | undefined }[] = [];
  const fake = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    calls.push({ url, init });
    return respond(url, init);
  }) as typeof fetch;
  return { fetch: fake, calls };
}

const rangeQuery: RangeQuery = {
  query: '{a="b"}',
  startNs: 10n,
  endNs: 20n,
  limit: 5,
  direction: "backward",
};

describe("createLokiQueryClient", () => {
  it("sends query_range with start, end, limit and direction, and the configured headers", async () => {
    const { fetch, calls } = recordingFetch(() => new Response(okStreams));
    const client = createLokiQueryClient({
      baseUrl: "http://loki:3100",
      headers: { "X-Scope-OrgID": "tenant-1" },
      timeoutMs: 1000,
      fetch,
    });
    expect(await client.queryRange(rangeQuery)).toEqual({
      ok: true,
      value: [],
    });
    const call = calls[0];
    expect(call?.url.pathname).toBe("/loki/api/v1/query_range");
    expect(Object.fromEntries(call?.url.searchParams ?? [])).toEqual({
      query: '{a="b"}',
      start: "10",
      end: "20",
      limit: "5",
      direction: "backward",
    });
    expect(
      (call?.init?.headers as Record<string, string>)["X-Scope-OrgID"],
    ).toBe("tenant-1");
  });

  it("sends instant queries with a time", async () => {
    const { fetch, calls } = recordingFetch(
      () =>
        new Response(
          JSON.stringify({
            status: "success",
            data: { resultType: "vector", result: [] },
          }),
        ),
    );
    const client = createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 1000,
      fetch,
    });
    expect(
      await client.queryInstant({ query: "vector(1)", timeNs: 99n }),
    ).toEqual({ ok: true, value: [] });
    expect(calls[0]?.url.pathname).toBe("/loki/api/v1/query");
    expect(calls[0]?.url.searchParams.get("time")).toBe("99");
  });

  it.each([
    ["http://gw/tenant-a", "/tenant-a/loki/api/v1/query_range"],
    ["http://gw/tenant-a/", "/tenant-a/loki/api/v1/query_range"],
    ["http://loki:3100/loki/api/v1/push", "/loki/api/v1/query_range"],
  ])("keeps the base path of %s", async (baseUrl, path) => {
    const { fetch, calls } = recordingFetch(() => new Response(okStreams));
    await createLokiQueryClient({ baseUrl, timeoutMs: 1000, fetch }).queryRange(
      rangeQuery,
    );
    expect(calls[0]?.url.pathname).toBe(path);
  });

  it("reports a refused connection as unreachable", async () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED"), {
      code: "ECONNREFUSED",
    });
    const { fetch } = recordingFetch(() =>
      Promise.reject(new TypeError("fetch failed", { cause: refused })),
    );
    const result = await createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 1000,
      fetch,
    }).queryRange(rangeQuery);
    expect(result).toEqual({
      ok: false,
      kind: "unreachable",
      message: "http://loki:3100: ECONNREFUSED",
    });
  });

  it("gives up after the timeout", async () => {
    const { fetch } = recordingFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () =>
            reject(init.signal?.reason as Error),
          );
        }),
    );
    const result = await createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 50,
      fetch,
    }).queryRange(rangeQuery);
    expect(result).toEqual({
      ok: false,
      kind: "unreachable",
      message: "no answer from http://loki:3100 within 50 ms",
    });
  });

  it("reports the caller's abort as aborted", async () => {
    const { fetch } = recordingFetch(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () =>
            reject(init.signal?.reason as Error),
          );
        }),
    );
    const controller = new AbortController();
    const pending = createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 5000,
      fetch,
    }).queryRange(rangeQuery, controller.signal);
    controller.abort();
    expect((await pending).ok === false && (await pending)).toMatchObject({
      kind: "aborted",
    });
  });

  it("passes Loki's error message on", async () => {
    const { fetch } = recordingFetch(
      () =>
        new Response(
          "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
          { status: 400 },
        ),
    );
    const result = await createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 1000,
      fetch,
    }).queryRange(rangeQuery);
    expect(result).toEqual({
      ok: false,
      kind: "loki_error",
      status: 400,
      message:
        "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER",
    });
  });

  it.each([
    ["<html>bad gateway</html>", /not JSON: <html>bad gateway<\/html>/],
    [
      JSON.stringify({
        status: "success",
        data: { resultType: "matrix", result: [] },
      }),
      /expected resultType "streams"/,
    ],
  ])("reports a 200 with %s as a bad response", async (body, message) => {
    const { fetch } = recordingFetch(() => new Response(body));
    const result = await createLokiQueryClient({
      baseUrl: "http://loki:3100",
      timeoutMs: 1000,
      fetch,
    }).queryRange(rangeQuery);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.kind).toBe("bad_response");
    expect(!result.ok && result.message).toMatch(message);
  });
});

describe("sortEntries", () => {
  const e = (ts: bigint, line: string): LokiEntry => ({
    timestampNs: ts,
    line,
    stream: {},
  });
  it("orders newest first for backward and oldest first for forward", () => {
    const entries = [e(2n, "b"), e(3n, "c"), e(1n, "a")];
    expect(sortEntries(entries, "backward").map((x) => x.line)).toEqual([
      "c",
      "b",
      "a",
    ]);
    expect(sortEntries(entries, "forward").map((x) => x.line)).toEqual([
      "a",
      "b",
      "c",
    ]);
  });
});

/** A Loki stand-in over a list of entries: start inclusive, end exclusive, at most `limit`, like query_range. */
function storeClient(
  entries: LokiEntry[],
  fail?: (call: number) => LokiResult<LokiEntry[]> | undefined,
) {
  const calls: RangeQuery[] = [];
  const client: LokiQueryClient = {
    queryRange(query) {
      calls.push(query);
      const failure = fail?.(calls.length);
      if (failure) return Promise.resolve(failure);
      const inWindow = entries.filter(
        (x) => x.timestampNs >= query.startNs && x.timestampNs < query.endNs,
      );
      return Promise.resolve({
        ok: true,
        value: sortEntries(inWindow, query.direction).slice(0, query.limit),
      });
    },
    queryInstant() {
      return Promise.resolve({ ok: true, value: [] });
    },
  };
  return { client, calls };
}

async function collect(
  pages: AsyncGenerator<LokiResult<LokiEntry[]>>,
): Promise<(string | LokiResult<never>)[]> {
  const out: (string | LokiResult<never>)[] = [];
  for await (const page of pages) {
    if (page.ok) out.push(...page.value.map((x) => x.line));
    else out.push(page);
  }
  return out;
}

describe("queryRangePages", () => {
  // 12 entries, with three sharing timestamp 50 and two sharing 20, so pages end in the middle of a timestamp.
  const timestamps = [
    10n,
    20n,
    20n,
    30n,
    40n,
    50n,
    50n,
    50n,
    60n,
    70n,
    80n,
    90n,
  ];
  const entries = timestamps.map((ts, i) => ({
    timestampNs: ts,
    line: `line-${i}`,
    stream: {},
  }));

  it("pages backward through the window without losing or repeating entries", async () => {
    const { client, calls } = storeClient(entries);
    const lines = await collect(
      queryRangePages(
        client,
        { query: "q", startNs: 0n, endNs: 100n, direction: "backward" },
        { pageSize: 4, maxEntries: 1000 },
      ),
    );
    expect(lines).toEqual(sortEntries(entries, "backward").map((x) => x.line));
    expect(new Set(lines).size).toBe(entries.length);
    expect(calls[1]?.endNs).toBe(calls[0] ? 60n + 1n : undefined); // oldest of page 1 (90,80,70,60) + 1 ns
  });

  it("pages forward too", async () => {
    const { client } = storeClient(entries);
    const lines = await collect(
      queryRangePages(
        client,
        { query: "q", startNs: 0n, endNs: 100n, direction: "forward" },
        { pageSize: 3, maxEntries: 1000 },
      ),
    );
    expect(lines).toEqual(sortEntries(entries, "forward").map((x) => x.line));
  });

  it("stops at maxEntries", async () => {
    const { client } = storeClient(entries);
    const lines = await collect(
      queryRangePages(
        client,
        { query: "q", startNs: 0n, endNs: 100n, direction: "backward" },
        { pageSize: 4, maxEntries: 6 },
      ),
    );
    expect(lines).toEqual(
      sortEntries(entries, "backward")
        .slice(0, 6)
        .map((x) => x.line),
    );
  });

  it("steps past a timestamp that holds more entries than a page instead of looping", async () => {
    const crowded = Array.from({ length: 5 }, (_, i) => ({
      timestampNs: 50n,
      line: `same-${i}`,
      stream: {},
    }));
    const { client, calls } = storeClient([
      ...crowded,
      { timestampNs: 10n, line: "older", stream: {} },
    ]);
    const lines = await collect(
      queryRangePages(
        client,
        { query: "q", startNs: 0n, endNs: 100n, direction: "backward" },
        { pageSize: 2, maxEntries: 100 },
      ),
    );
    expect(lines.at(-1)).toBe("older");
    expect(calls.length).toBeLessThan(10);
  });

  it("yields a failure and stops", async () => {
    const failure: LokiResult<LokiEntry[]> = {
      ok: false,
      kind: "unreachable",
      message: "down",
    };
    const { client } = storeClient(entries, (call) =>
      call === 2 ? failure : undefined,
    );
    const out = await collect(
      queryRangePages(
        client,
        { query: "q", startNs: 0n, endNs: 100n, direction: "backward" },
        { pageSize: 4, maxEntries: 100 },
      ),
    );
    expect(out).toHaveLength(5);
    expect(out.at(-1)).toEqual(failure);
  });
});
