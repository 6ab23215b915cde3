// Client for Loki's read API (/loki/api/v1/query_range and /loki/api/v1/query) with a timeout per request and
// an injectable fetch. Never throws: every outcome is a LokiResult. No logger: the caller decides what to log.
import { isObject } from "../upstream/json-fields.ts";

export type LokiFailure =
  | { ok: false; kind: "unreachable"; message: string }
  | { ok: false; kind: "aborted"; message: string }
  | { ok: false; kind: "loki_error"; status: number; message: string }
  | { ok: false; kind: "bad_response"; message: string };

export type LokiResult<T> = { ok: true; value: T } | LokiFailure;

export interface LokiEntry {
  /** Loki's entry timestamp, nanoseconds since the epoch. */
  timestampNs: bigint;
  line: string;
  stream: Record<string, string>;
}

export interface LokiSample {
  metric: Record<string, string>;
  /** undefined for NaN and ±Inf, which Loki sends as strings. */
  value: number | undefined;
}

export type Direction = "backward" | "forward";

export interface RangeQuery {
  query: string;
  /** Inclusive. */
  startNs: bigint;
  /** Exclusive for log queries (logcli pages backward with end = last timestamp + 1 ns). */
  endNs: bigint;
  limit: number;
  direction: Direction;
}

export interface InstantQuery {
  query: string;
  timeNs: bigint;
}

export interface LokiQueryClientOptions {
  /** Loki's base URL, e.g. http://loki:3100 (a trailing /loki/api/v1/push is tolerated). */
  baseUrl: string;
  headers?: Record<string, string> | undefined;
  timeoutMs: number;
  fetch?: typeof fetch | undefined;
}

export interface LokiQueryClient {
  queryRange(
    query: RangeQuery,
    signal?: AbortSignal,
  ): Promise<LokiResult<LokiEntry[]>>;
  queryInstant(
    query: InstantQuery,
    signal?: AbortSignal,
  ): Promise<LokiResult<LokiSample[]>>;
}

export function createLokiQueryClient(
  options: LokiQueryClientOptions,
): LokiQueryClient {
  const doFetch = options.fetch ?? fetch;
  const base = normaliseBaseUrl(options.baseUrl);

  async function get(
    path: string,
    params: URLSearchParams,
    signal?: AbortSignal,
  ): Promise<LokiResult<unknown>> {
    const url = new URL(path, base);
    url.search = params.toString();
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([timeout, signal]) : timeout;
    let status: number;
    let text: string;
    try {
      const response = await doFetch(url, {
        method: "GET",
        headers: { accept: "application/json", ...options.headers },
        signal: combined,
      });
      status = response.status;
      text = await response.text(); // the body read is under the same timeout
    } catch (error) {
      if (signal?.aborted)
        return {
          ok: false,
          kind: "aborted",
          message: "request aborted by the client",
        };
      if (timeout.aborted) {
        return {
          ok: false,
          kind: "unreachable",
          message: `no answer from ${url.origin} within ${options.timeoutMs} ms`,
        };
      }
      return {
        ok: false,
        kind: "unreachable",
        message: describeFetchError(error, url.origin),
      };
    }
    if (status < 200 || status > 299) {
      return {
        ok: false,
        kind: "loki_error",
        status,
        message: parseLokiErrorBody(text),
      };
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return {
        ok: false,
        kind: "bad_response",
        message: `not JSON: ${truncate(text, 200)}`,
      };
    }
    if (
      isObject(body) &&
      body.status !== undefined &&
      body.status !== "success"
    ) {
      return {
        ok: false,
        kind: "loki_error",
        status,
        message: parseLokiErrorBody(text),
      };
    }
    return { ok: true, value: body };
  }

  return {
    async queryRange(query, signal) {
      const params = new URLSearchParams({
        query: query.query,
        start: query.startNs.toString(),
        end: query.endNs.toString(),
        limit: String(query.limit),
        direction: query.direction,
      });
      const result = await get("loki/api/v1/query_range", params, signal);
      if (!result.ok) return result;
      const parsed = parseStreamsResponse(result.value);
      return parsed.ok
        ? parsed
        : { ok: false, kind: "bad_response", message: parsed.reason };
    },
    async queryInstant(query, signal) {
      const params = new URLSearchParams({
        query: query.query,
        time: query.timeNs.toString(),
      });
      const result = await get("loki/api/v1/query", params, signal);
      if (!result.ok) return result;
      const parsed = parseSamplesResponse(result.value);
      return parsed.ok
        ? parsed
        : { ok: false, kind: "bad_response", message: parsed.reason };
    },
  };
}

function normaliseBaseUrl(raw: string): URL {
  const url = new URL(raw);
  url.pathname = url.pathname
    .replace(/\/loki\/api\/v1\/push\/?$/, "")
    .replace(/\/*$/, "/");
  url.search = "";
  url.hash = "";
  return url;
}

function describeFetchError(error: unknown, origin: string): string {
  // undici wraps the socket error (ECONNREFUSED, ENOTFOUND…) as `cause` of a generic "fetch failed".
  const cause =
    error instanceof Error && error.cause instanceof Error
      ? error.cause
      : undefined;
  const code =
    cause && "code" in cause && typeof cause.code === "string"
      ? cause.code
      : undefined;
  const detail =
    code ??
    cause?.message ??
    (error instanceof Error ? error.message : String(error));
  return `${origin}: ${detail}`;
}

function truncate(text: string, max: number): string {
  const flat = text.trim().replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Loki answers errors as plain text ("parse error at line 1, col 5: …") or as {"status":"error","error":…}. */
export function parseLokiErrorBody(text: string): string {
  try {
    const body: unknown = JSON.parse(text);
    if (isObject(body)) {
      for (const key of ["error", "message"]) {
        const value = body[key];
        if (typeof value === "string" && value !== "")
          return truncate(value, 500);
      }
    }
  } catch {
    // plain text
  }
  const plain = truncate(text, 500);
  return plain === "" ? "(empty body)" : plain;
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(value)) return out;
  for (const [k, v] of Object.entries(value))
    if (typeof v === "string") out[k] = v;
  return out;
}

function parseNs(value: unknown): bigint | undefined {
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) return undefined;
  return BigInt(value);
}

/**
 * query_range of a log query: {"status":"success","data":{"resultType":"streams","result":[{"stream":{…},
 * "values":[["<ns>","<line>"(, {metadata})?],…]}]}}. Malformed entries are skipped, a malformed envelope fails.
 */
export function parseStreamsResponse(
  body: unknown,
): { ok: true; value: LokiEntry[] } | { ok: false; reason: string } {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data))
    return { ok: false, reason: "no data object in Loki's answer" };
  if (data.resultType !== "streams") {
    return {
      ok: false,
      reason: `expected resultType "streams", got ${JSON.stringify(data.resultType)}`,
    };
  }
  if (!Array.isArray(data.result))
    return { ok: false, reason: "data.result is not an array" };
  const entries: LokiEntry[] = [];
  for (const item of data.result as unknown[]) {
    if (!isObject(item) || !Array.isArray(item.values)) continue;
    const stream = stringRecord(item.stream);
    for (const pair of item.values as unknown[]) {
      if (!Array.isArray(pair)) continue;
      const timestampNs = parseNs(pair[0]);
      const line: unknown = pair[1];
      if (timestampNs === undefined || typeof line !== "string") continue;
      entries.push({ timestampNs, line, stream });
    }
  }
  return { ok: true, value: entries };
}

function parseSampleValue(pair: unknown): number | undefined {
  if (!Array.isArray(pair) || typeof pair[1] !== "string") return undefined;
  const n = Number(pair[1]);
  return Number.isFinite(n) ? n : undefined;
}

/** /query of a metric query: resultType "vector" (value) or "matrix" (last of values); "scalar" has no labels. */
export function parseSamplesResponse(
  body: unknown,
): { ok: true; value: LokiSample[] } | { ok: false; reason: string } {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data))
    return { ok: false, reason: "no data object in Loki's answer" };
  const { resultType, result } = data;
  if (resultType === "scalar")
    return {
      ok: true,
      value: [{ metric: {}, value: parseSampleValue(result) }],
    };
  if (resultType !== "vector" && resultType !== "matrix") {
    return {
      ok: false,
      reason: `expected resultType "vector" or "matrix", got ${JSON.stringify(resultType)}`,
    };
  }
  if (!Array.isArray(result))
    return { ok: false, reason: "data.result is not an array" };
  const samples: LokiSample[] = [];
  for (const item of result as unknown[]) {
    if (!isObject(item)) continue;
    const metric = stringRecord(item.metric);
    if (resultType === "vector") {
      samples.push({ metric, value: parseSampleValue(item.value) });
    } else if (Array.isArray(item.values) && item.values.length > 0) {
      samples.push({
        metric,
        value: parseSampleValue(item.values[item.values.length - 1]),
      });
    }
  }
  return { ok: true, value: samples };
}

/** Entries of all streams in one order: newest first for backward, oldest first for forward (stable). */
export function sortEntries(
  entries: readonly LokiEntry[],
  direction: Direction,
): LokiEntry[] {
  const sign = direction === "backward" ? -1 : 1;
  return [...entries].sort((a, b) =>
    a.timestampNs === b.timestampNs
      ? 0
      : a.timestampNs < b.timestampNs
        ? -sign
        : sign,
  );
}

/**
 * Pages a log query through its whole window, `pageSize` entries per request, until `maxEntries` entries
 * were yielded or the window is exhausted. Like logcli: a backward page moves `end` to the oldest timestamp
 * + 1 ns (end is exclusive), a forward page moves `start` to the newest (start is inclusive), and entries at
 * that boundary timestamp which the previous page already returned are skipped. Yields each page in order;
 * a failed request is yielded and ends the iteration.
 */
export async function* queryRangePages(
  client: LokiQueryClient,
  query: Omit<RangeQuery, "limit">,
  options: { pageSize: number; maxEntries: number },
  signal?: AbortSignal,
): AsyncGenerator<LokiResult<LokiEntry[]>, void, undefined> {
  let { startNs, endNs } = query;
  let remaining = options.maxEntries;
  let boundaryNs: bigint | undefined;
  let boundaryLines = new Set<string>();
  while (remaining > 0 && startNs < endNs) {
    const limit = Math.min(options.pageSize, remaining + boundaryLines.size);
    const page = await client.queryRange(
      { ...query, startNs, endNs, limit },
      signal,
    );
    if (!page.ok) {
      yield page;
      return;
    }
    const entries = sortEntries(page.value, query.direction);
    const fresh = entries
      .filter(
        (e) => !(e.timestampNs === boundaryNs && boundaryLines.has(e.line)),
      )
      .slice(0, remaining);
    remaining -= fresh.length;
    if (fresh.length > 0) yield { ok: true, value: fresh };
    const last = entries.at(-1)?.timestampNs;
    if (last === undefined || entries.length < limit) return; // Loki had nothing more in the window
    if (fresh.length === 0) {
      // A full page of already-seen entries sharing one timestamp: step past it or we would loop forever.
      if (query.direction === "backward") endNs = last;
      else startNs = last + 1n;
      boundaryNs = undefined;
      boundaryLines = new Set();
      continue;
    }
    if (last !== boundaryNs) {
      boundaryNs = last;
      boundaryLines = new Set();
    }
    for (const e of entries)
      if (e.timestampNs === last) boundaryLines.add(e.line);
    if (query.direction === "backward") endNs = last + 1n;
    else startNs = last;
  }
}
