// Validation of the analytics API's query-string parameters into typed requests. Pure: no I/O; the clock
// arrives as `nowMs`. Every failure names the parameter, for a 400 answer.
import { normalizeModel } from "../models/model-names.ts";
import type { Direction } from "./loki-query.ts";
import {
  OUTCOMES,
  type Outcome,
  type RecordFilters,
  type StatusFilter,
} from "./logql.ts";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export interface TimeWindow {
  startMs: number;
  endMs: number;
}

export interface ParamLimits {
  nowMs: number;
  /** Window used when start_time is absent (1 h). */
  defaultWindowMs: number;
  maxWindowMs: number;
  /** Largest `limit` of /search, and the page size of /export. */
  maxLimit: number;
  defaultLimit: number;
  /** Largest `limit` of /export (total records). */
  maxExportRecords: number;
}

export interface SearchRequest {
  window: TimeWindow;
  filters: RecordFilters;
  limit: number;
  direction: Direction;
}

export interface StatsRequest {
  window: TimeWindow;
  model: string | undefined;
}

export type ExportFormat = "json" | "csv";

export interface ExportRequest extends SearchRequest {
  format: ExportFormat;
}

const MAX_VALUE_CHARS = 512;
const MAX_SEARCH_CHARS = 1024;
// Unix seconds beyond the year 9999 are almost certainly milliseconds or nanoseconds.
const MAX_UNIX_SECONDS = 253_402_300_799;

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** Unix seconds (integer or fractional) or RFC 3339 → epoch milliseconds, or undefined. */
export function parseTimestamp(raw: string): number | undefined {
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const seconds = Number(text);
    if (!Number.isFinite(seconds) || seconds > MAX_UNIX_SECONDS)
      return undefined;
    return Math.round(seconds * 1000);
  }
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m
    .slice(1, 7)
    .map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return undefined;
  }
  const fractionMs =
    m[7] === undefined ? 0 : Math.round(Number(`0.${m[7]}`) * 1000);
  const offsetMinutes = m[8]
    ? 0
    : (m[9] === "-" ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  if (!m[8] && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day); // Date.UTC maps years 0-99 to 1900-1999
  utc.setUTCHours(hour, minute, second, 0);
  return utc.getTime() + fractionMs - offsetMinutes * 60_000;
}

function describeDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** Rejects unknown and repeated parameters; empty values count as absent. */
function readParams(
  params: URLSearchParams,
  allowed: readonly string[],
): Parsed<Map<string, string>> {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  for (const [key, value] of params) {
    if (!allowed.includes(key)) {
      return {
        ok: false,
        error: `unknown parameter "${key}" (expected one of: ${allowed.join(", ")})`,
      };
    }
    if (seen.has(key))
      return { ok: false, error: `parameter "${key}" given more than once` };
    seen.add(key);
    if (value !== "") values.set(key, value);
  }
  return { ok: true, value: values };
}

function parseWindow(
  values: Map<string, string>,
  limits: ParamLimits,
): Parsed<TimeWindow> {
  const times: Partial<Record<"start_time" | "end_time", number>> = {};
  for (const key of ["start_time", "end_time"] as const) {
    const raw = values.get(key);
    if (raw === undefined) continue;
    const ms = parseTimestamp(raw);
    if (ms === undefined) {
      return {
        ok: false,
        error: `invalid ${key} ${JSON.stringify(raw)}: expected Unix seconds (e.g. 1735689600 or 1735689600.5) or RFC 3339 (e.g. 2025-01-01T00:00:00Z)`,
      };
    }
    times[key] = ms;
  }
  const endMs = times.end_time ?? limits.nowMs;
  const startMs = times.start_time ?? endMs - limits.defaultWindowMs;
  if (startMs >= endMs)
    return { ok: false, error: "start_time must be before end_time" };
  if (endMs - startMs > limits.maxWindowMs) {
    return {
      ok: false,
      error: `the window from start_time to end_time is longer than the maximum of ${describeDuration(limits.maxWindowMs)}`,
    };
  }
  return { ok: true, value: { startMs, endMs } };
}

function parseStatus(raw: string): StatusFilter | undefined {
  if (/^[1-5]\d\d$/.test(raw)) return { kind: "code", code: Number(raw) };
  if (/^[1-5]xx$/i.test(raw))
    return { kind: "class", hundreds: Number(raw[0]) };
  return undefined;
}

function parseInteger(
  raw: string,
  min: number,
  max: number,
): number | undefined {
  if (!/^\d{1,9}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= min && n <= max ? n : undefined;
}

const SEARCH_PARAMS = [
  "model",
  "prompt_search",
  "client",
  "status",
  "outcome",
  "endpoint",
  "request_id",
  "start_time",
  "end_time",
  "limit",
  "direction",
] as const;

function parseSearchValues(
  values: Map<string, string>,
  limits: ParamLimits,
  maxLimit: number,
  defaultLimit: number,
): Parsed<SearchRequest> {
  const window = parseWindow(values, limits);
  if (!window.ok) return window;

  for (const key of [
    "model",
    "client",
    "endpoint",
    "request_id",
    "prompt_search",
  ]) {
    const value = values.get(key);
    const max = key === "prompt_search" ? MAX_SEARCH_CHARS : MAX_VALUE_CHARS;
    if (value !== undefined && value.length > max) {
      return { ok: false, error: `${key} is longer than ${max} characters` };
    }
  }

  const filters: RecordFilters = {};
  const model = values.get("model");
  if (model !== undefined) filters.model = normalizeModel(model) || model;
  filters.client = values.get("client");
  filters.requestId = values.get("request_id");
  filters.promptSearch = values.get("prompt_search");

  const endpoint = values.get("endpoint");
  if (endpoint !== undefined && !endpoint.startsWith("/")) {
    return {
      ok: false,
      error: `invalid endpoint ${JSON.stringify(endpoint)}: expected a path such as /api/chat`,
    };
  }
  filters.endpoint = endpoint;

  const outcome = values.get("outcome");
  if (outcome !== undefined) {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) {
      return {
        ok: false,
        error: `invalid outcome ${JSON.stringify(outcome)}: expected one of ${OUTCOMES.join(", ")}`,
      };
    }
    filters.outcome = outcome as Outcome;
  }

  const status = values.get("status");
  if (status !== undefined) {
    const parsed = parseStatus(status);
    if (!parsed) {
      return {
        ok: false,
        error: `invalid status ${JSON.stringify(status)}: expected an HTTP status code (100-599) such as 404, or a class such as 5xx`,
      };
    }
    filters.status = parsed;
  }

  let limit = defaultLimit;
  const rawLimit = values.get("limit");
  if (rawLimit !== undefined) {
    const parsed = parseInteger(rawLimit, 1, maxLimit);
    if (parsed === undefined) {
      return {
        ok: false,
        error: `invalid limit ${JSON.stringify(rawLimit)}: expected an integer from 1 to ${maxLimit}`,
      };
    }
    limit = parsed;
  }

  const direction = values.get("direction") ?? "backward";
  if (direction !== "backward" && direction !== "forward") {
    return {
      ok: false,
      error: `invalid direction ${JSON.stringify(direction)}: expected backward (newest first) or forward`,
    };
  }

  return {
    ok: true,
    value: { window: window.value, filters, limit, direction },
  };
}

export function parseSearchParams(
  params: URLSearchParams,
  limits: ParamLimits,
): Parsed<SearchRequest> {
  const values = readParams(params, SEARCH_PARAMS);
  if (!values.ok) return values;
  return parseSearchValues(
    values.value,
    limits,
    limits.maxLimit,
    Math.min(limits.defaultLimit, limits.maxLimit),
  );
}

export function parseExportParams(
  params: URLSearchParams,
  limits: ParamLimits,
): Parsed<ExportRequest> {
  const values = readParams(params, [...SEARCH_PARAMS, "format"]);
  if (!values.ok) return values;
  const format = values.value.get("format") ?? "json";
  if (format !== "json" && format !== "csv") {
    return {
      ok: false,
      error: `invalid format ${JSON.stringify(format)}: expected json or csv`,
    };
  }
  const search = parseSearchValues(
    values.value,
    limits,
    limits.maxExportRecords,
    limits.maxExportRecords,
  );
  return search.ok ? { ok: true, value: { ...search.value, format } } : search;
}

export function parseStatsParams(
  params: URLSearchParams,
  limits: ParamLimits,
): Parsed<StatsRequest> {
  const values = readParams(params, ["start_time", "end_time", "model"]);
  if (!values.ok) return values;
  const window = parseWindow(values.value, limits);
  if (!window.ok) return window;
  const model = values.value.get("model");
  if (model !== undefined && model.length > MAX_VALUE_CHARS) {
    return {
      ok: false,
      error: `model is longer than ${MAX_VALUE_CHARS} characters`,
    };
  }
  return {
    ok: true,
    value: {
      window: window.value,
      model: model === undefined ? undefined : normalizeModel(model) || model,
    },
  };
}
