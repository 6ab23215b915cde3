// GET /analytics/{search,stats,export}: validates the query string, builds LogQL (logql.ts), asks
// Loki's read API and answers JSON or CSV. Owns no protocol knowledge of Ollama; Loki failures become 502/503.
import express from "express";
import type { Request, Response } from "express";
import type { Logger } from "pino";
import { csvHeader, recordToCsvRow } from "./csv.ts";
import {
  buildSearchQuery,
  buildStatsQueries,
  STAT_QUERY_KEYS,
  type StatsQueries,
} from "./logql.ts";
import {
  createLokiQueryClient,
  queryRangePages,
  sortEntries,
  type LokiEntry,
  type LokiFailure,
  type LokiQueryClient,
  type LokiResult,
  type LokiSample,
} from "./loki-query.ts";
import {
  parseExportParams,
  parseSearchParams,
  parseStatsParams,
  type ParamLimits,
  type Parsed,
  type TimeWindow,
} from "./query-params.ts";

export interface AnalyticsApiOptions {
  lokiUrl: string | undefined;
  lokiHeaders?: Record<string, string>;
  selector: { service_name: string; log_type: string; env?: string };
  queryTimeoutMs: number;
  /** Largest `limit` of /search and the page size of /export (Loki's max_entries_limit_per_query is 5000). */
  maxLimit: number;
  fetch?: typeof fetch;
  /** Longest start_time..end_time window; default 30 days. */
  maxWindowSeconds?: number;
  /** Largest number of records one /export answers; default 100 000. */
  maxExportRecords?: number;
}

export interface AnalyticsApiDeps {
  logger: Logger;
  /** Clock for the default window (tests pin it); Date.now by default. */
  now?: () => number;
}

const DEFAULT_WINDOW_MS = 3_600_000;
const DEFAULT_MAX_WINDOW_SECONDS = 30 * 86_400;
const DEFAULT_SEARCH_LIMIT = 100;
const DEFAULT_MAX_EXPORT_RECORDS = 100_000;
const NS_PER_MS = 1_000_000n;

type JsonRecord = Record<string, unknown>;

/** One analytics record from a Loki line; undefined when the line is not a JSON object. */
export function parseRecordLine(line: string): JsonRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as JsonRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

function toRecords(entries: readonly LokiEntry[]): {
  records: JsonRecord[];
  skipped: number;
} {
  const records: JsonRecord[] = [];
  for (const entry of entries) {
    const record = parseRecordLine(entry.line);
    if (record) records.push(record);
  }
  return { records, skipped: entries.length - records.length };
}

function sendError(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

/** 503 when Loki could not be reached in time, 502 when it answered with an error or garbage. */
function failureResponse(failure: LokiFailure): {
  status: number;
  message: string;
} {
  switch (failure.kind) {
    case "unreachable":
      return { status: 503, message: `loki unreachable: ${failure.message}` };
    case "aborted":
      return { status: 499, message: failure.message };
    case "loki_error":
      return {
        status: 502,
        message: `loki answered HTTP ${failure.status}: ${failure.message}`,
      };
    case "bad_response":
      return {
        status: 502,
        message: `loki returned an unexpected response: ${failure.message}`,
      };
  }
}

function toNs(ms: number): bigint {
  return BigInt(ms) * NS_PER_MS;
}

function isoCompact(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}

interface ModelStats {
  model: string;
  requests: number;
  errors: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  avg_tokens_per_second: number | null;
  latency_ms: { p50: number | null; p95: number | null; p99: number | null };
  ttft_ms: { p50: number | null; p95: number | null };
}

function assembleStats(
  results: Record<keyof StatsQueries, LokiSample[]>,
): ModelStats[] {
  const byModel = new Map<
    string,
    Partial<Record<keyof StatsQueries, number>>
  >();
  for (const key of STAT_QUERY_KEYS) {
    for (const sample of results[key]) {
      const model = sample.metric.model ?? "";
      const stats = byModel.get(model) ?? {};
      if (sample.value !== undefined) stats[key] = sample.value;
      byModel.set(model, stats);
    }
  }
  const models: ModelStats[] = [];
  for (const [model, s] of byModel) {
    models.push({
      model,
      requests: s.requests ?? 0,
      errors: s.errors ?? 0,
      prompt_tokens: s.prompt_tokens ?? null,
      completion_tokens: s.completion_tokens ?? null,
      avg_tokens_per_second: s.avg_tokens_per_second ?? null,
      latency_ms: {
        p50: s.latency_p50 ?? null,
        p95: s.latency_p95 ?? null,
        p99: s.latency_p99 ?? null,
      },
      ttft_ms: { p50: s.ttft_p50 ?? null, p95: s.ttft_p95 ?? null },
    });
  }
  return models.sort(
    (a, b) => b.requests - a.requests || a.model.localeCompare(b.model),
  );
}

/** Waits until the response can take more bytes, or the client went away. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** Mounted at /analytics by the app. */
export function createAnalyticsRouter(
  options: AnalyticsApiOptions,
  deps: AnalyticsApiDeps,
): express.Router {
  const router = express.Router();
  const logger = deps.logger;
  const now = deps.now ?? Date.now;
  const client: LokiQueryClient | undefined =
    options.lokiUrl === undefined || options.lokiUrl === ""
      ? undefined
      : createLokiQueryClient({
          baseUrl: options.lokiUrl,
          headers: options.lokiHeaders,
          timeoutMs: options.queryTimeoutMs,
          fetch: options.fetch,
        });
  const maxExportRecords =
    options.maxExportRecords ?? DEFAULT_MAX_EXPORT_RECORDS;

  const limits = (): ParamLimits => ({
    nowMs: now(),
    defaultWindowMs: DEFAULT_WINDOW_MS,
    maxWindowMs:
      (options.maxWindowSeconds ?? DEFAULT_MAX_WINDOW_SECONDS) * 1000,
    maxLimit: options.maxLimit,
    defaultLimit: DEFAULT_SEARCH_LIMIT,
    maxExportRecords,
  });

  /** Common prelude: Loki configured, parameters valid, an abort signal tied to the client's connection. */
  function begin<T>(
    req: Request,
    res: Response,
    parse: (params: URLSearchParams, limits: ParamLimits) => Parsed<T>,
  ): { client: LokiQueryClient; request: T; signal: AbortSignal } | undefined {
    if (!client) {
      sendError(res, 503, "analytics unavailable: LOKI_URL is not configured");
      return undefined;
    }
    const parsed = parse(
      new URL(req.url, "http://analytics.invalid").searchParams,
      limits(),
    );
    if (!parsed.ok) {
      sendError(res, 400, parsed.error);
      return undefined;
    }
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) controller.abort();
    });
    return { client, request: parsed.value, signal: controller.signal };
  }

  function fail(
    res: Response,
    route: string,
    query: string | string[],
    failure: LokiFailure,
  ): void {
    if (failure.kind === "aborted") return; // the client is gone; nobody to answer
    const { status, message } = failureResponse(failure);
    logger.warn({ route, query, loki: failure }, "analytics query failed");
    sendError(res, status, message);
  }

  router.get("/search", async (req, res) => {
    const ctx = begin(req, res, parseSearchParams);
    if (!ctx) return;
    const { window, filters, limit, direction } = ctx.request;
    const query = buildSearchQuery(options.selector, filters);
    const result = await ctx.client.queryRange(
      {
        query,
        startNs: toNs(window.startMs),
        endNs: toNs(window.endMs),
        limit,
        direction,
      },
      ctx.signal,
    );
    if (!result.ok) return fail(res, "search", query, result);
    const { records, skipped } = toRecords(
      sortEntries(result.value, direction),
    );
    if (skipped > 0)
      logger.debug(
        { route: "search", skipped },
        "skipped Loki lines that are not JSON records",
      );
    res.json({ records, count: records.length, query });
  });

  router.get("/stats", async (req, res) => {
    const ctx = begin(req, res, parseStatsParams);
    if (!ctx) return;
    const { window, model } = ctx.request;
    const queries = buildStatsQueries(options.selector, {
      rangeMs: window.endMs - window.startMs,
      model,
    });
    const timeNs = toNs(window.endMs);
    const answers = await Promise.all(
      STAT_QUERY_KEYS.map((key) =>
        ctx.client.queryInstant({ query: queries[key], timeNs }, ctx.signal),
      ),
    );
    const results = {} as Record<keyof StatsQueries, LokiSample[]>;
    for (const [i, key] of STAT_QUERY_KEYS.entries()) {
      const answer = answers[i];
      if (answer === undefined) continue;
      if (!answer.ok) return fail(res, "stats", queries[key], answer);
      results[key] = answer.value;
    }
    res.json({
      start_time: new Date(window.startMs).toISOString(),
      end_time: new Date(window.endMs).toISOString(),
      models: assembleStats(results),
      queries,
    });
  });

  router.get("/export", async (req, res) => {
    const ctx = begin(req, res, parseExportParams);
    if (!ctx) return;
    const { window, filters, limit, direction, format } = ctx.request;
    const query = buildSearchQuery(options.selector, filters);
    const pages = queryRangePages(
      ctx.client,
      {
        query,
        startNs: toNs(window.startMs),
        endNs: toNs(window.endMs),
        direction,
      },
      { pageSize: options.maxLimit, maxEntries: limit },
      ctx.signal,
    );
    // The first page decides the status code; once bytes are out, a Loki failure can only cut the stream.
    const first = await pages.next();
    if (!first.done && !first.value.ok)
      return fail(res, "export", query, first.value);
    await streamExport(
      res,
      format,
      window,
      first.done ? [] : first.value.ok ? first.value.value : [],
      pages,
      query,
    );
  });

  async function streamExport(
    res: Response,
    format: "json" | "csv",
    window: TimeWindow,
    firstPage: readonly LokiEntry[],
    rest: AsyncGenerator<LokiResult<LokiEntry[]>, void, undefined>,
    query: string,
  ): Promise<void> {
    res.status(200);
    res.setHeader(
      "Content-Type",
      format === "csv"
        ? "text/csv; charset=utf-8"
        : "application/json; charset=utf-8",
    );
    res.setHeader(
      "Content-Disposition",
      `attachment; filename="ollama-analytics-${isoCompact(window.startMs)}-${isoCompact(window.endMs)}.${format}"`,
    );
    res.setHeader("Cache-Control", "no-store");
    let count = 0;
    const write = async (chunk: string): Promise<void> => {
      if (!res.write(chunk)) await drained(res);
    };
    const writePage = async (entries: readonly LokiEntry[]): Promise<void> => {
      const { records } = toRecords(entries);
      let chunk = "";
      for (const record of records) {
        chunk +=
          format === "csv"
            ? recordToCsvRow(record)
            : `${count === 0 ? "" : ","}\n${JSON.stringify(record)}`;
        count += 1;
      }
      if (chunk !== "") await write(chunk);
    };
    await write(format === "csv" ? csvHeader() : "[");
    await writePage(firstPage);
    for await (const page of rest) {
      if (res.destroyed) return;
      if (!page.ok) {
        if (page.kind !== "aborted") {
          logger.error(
            { route: "export", query, loki: page, written: count },
            "export cut short by a Loki failure",
          );
        }
        res.destroy(); // an incomplete download must not look complete
        return;
      }
      await writePage(page.value);
    }
    res.end(format === "csv" ? "" : count === 0 ? "]\n" : "\n]\n");
    logger.debug({ route: "export", format, count }, "analytics export done");
  }

  return router;
}
