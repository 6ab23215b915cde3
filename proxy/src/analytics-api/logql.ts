// LogQL text for the analytics API: string literals, regex escaping and the query builders.
// Pure: no I/O, no logger. Every user value reaches LogQL only through logqlString() (and escapeRegex() inside
// regex matchers), so a value can never end its literal early and add pipeline stages of its own.

/** The Loki stream labels of the analytics records (the only stream labels they carry). */
export interface StreamSelector {
  service_name: string;
  log_type: string;
  env?: string | undefined;
}

export const OUTCOMES = [
  "ok",
  "upstream_error",
  "stream_error",
  "client_aborted",
  "rejected",
  "proxy_error",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** An exact status code (`200`) or a class (`5xx` → 500..599). */
export type StatusFilter =
  { kind: "code"; code: number } | { kind: "class"; hundreds: number };

/** What /analytics/search and /analytics/export filter on. Absent fields do not filter. */
export interface RecordFilters {
  model?: string | undefined;
  client?: string | undefined;
  endpoint?: string | undefined;
  outcome?: Outcome | undefined;
  requestId?: string | undefined;
  status?: StatusFilter | undefined;
  /** Case-insensitive substring of the `prompt` field. */
  promptSearch?: string | undefined;
}

// Loki lexes string literals with Prometheus' strutil.Unquote (pkg/logql/syntax/lex.go): a backtick string is
// raw (it cannot hold a backtick), a double-quoted string takes Go escapes and cannot hold a raw newline.
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * A LogQL string literal whose decoded value is exactly `value`. Plain values are double-quoted; values with
 * `"` or `\` become raw backtick strings (readable, and regexes need no double escaping); values with a
 * backtick or a control character are double-quoted with escapes. JSON string escapes (`\"`, `\\`, `\n`,
 * `\u00XX`) are a subset of Go's, so JSON.stringify gives a valid Go literal once lone surrogates are replaced
 * (Loki rejects invalid UTF-8).
 */
export function logqlString(value: string): string {
  const text = value.toWellFormed();
  if (hasControl(text) || text.includes("`")) return JSON.stringify(text);
  if (text.includes('"') || text.includes("\\")) return `\`${text}\``;
  return `"${text}"`;
}

/**
 * Decodes a LogQL string literal (backtick, double- or single-quoted) the way Go's strconv.Unquote does.
 * Returns undefined for anything Loki would reject.
 */
export function parseLogqlString(literal: string): string | undefined {
  if (literal.length < 2) return undefined;
  const quote = literal[0];
  if (quote !== literal[literal.length - 1]) return undefined;
  const body = literal.slice(1, -1);
  if (quote === "`") return body.includes("`") ? undefined : body;
  if (quote !== '"' && quote !== "'") return undefined;
  if (body.includes("\n")) return undefined;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  const pushCodePoint = (cp: number): boolean => {
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    bytes.push(...encoder.encode(String.fromCodePoint(cp)));
    return true;
  };
  const simple: Record<string, number> = {
    a: 7,
    b: 8,
    f: 12,
    n: 10,
    r: 13,
    t: 9,
    v: 11,
    "\\": 92,
  };
  let i = 0;
  while (i < body.length) {
    const cp = body.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    if (ch === quote) return undefined;
    if (ch !== "\\") {
      bytes.push(...encoder.encode(ch));
      i += ch.length;
      continue;
    }
    const esc = body[i + 1];
    if (esc === undefined) return undefined;
    const simpleByte = simple[esc];
    if (simpleByte !== undefined) {
      bytes.push(simpleByte);
      i += 2;
    } else if (esc === quote) {
      bytes.push(quote.charCodeAt(0));
      i += 2;
    } else if (esc === "x" || esc === "u" || esc === "U") {
      const digits = esc === "x" ? 2 : esc === "u" ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + digits);
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) return undefined;
      const n = Number.parseInt(hex, 16);
      if (esc === "x") bytes.push(n);
      else if (!pushCodePoint(n)) return undefined;
      i += 2 + digits;
    } else if (esc >= "0" && esc <= "7") {
      const oct = body.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(oct)) return undefined;
      const n = Number.parseInt(oct, 8);
      if (n > 255) return undefined;
      bytes.push(n);
      i += 4;
    } else {
      return undefined;
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(
      new Uint8Array(bytes),
    );
  } catch {
    return undefined; // Loki rejects invalid UTF-8 ("invalid UTF-8 rune")
  }
}

/** Escapes RE2 metacharacters, like Go's regexp.QuoteMeta, so `value` matches itself literally. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

/** `{service_name="…", log_type="…", env="…"}` (env only when configured). */
export function buildSelector(selector: StreamSelector): string {
  const matchers = [
    `service_name=${logqlString(selector.service_name)}`,
    `log_type=${logqlString(selector.log_type)}`,
  ];
  if (selector.env !== undefined && selector.env !== "")
    matchers.push(`env=${logqlString(selector.env)}`);
  return `{${matchers.join(", ")}}`;
}

/**
 * The text `"field":<json value>` as it appears in a compact (pino) JSON line. Used as a cheap line filter
 * before `| json`; inside a JSON string a `"` is always escaped, so this cannot match prompt text.
 */
function jsonMember(field: string, value: string | number): string {
  return `"${field}":${JSON.stringify(typeof value === "string" ? value.toWellFormed() : value)}`;
}

/** Line filter, then parser, then label filters: the order Loki evaluates fastest. */
interface Pipeline {
  lineFilters: string[];
  fields: string[];
  labelFilters: string[];
}

function stringFilter(
  p: Pipeline,
  field: string,
  value: string | undefined,
): void {
  if (value === undefined) return;
  p.lineFilters.push(`|= ${logqlString(jsonMember(field, value))}`);
  p.fields.push(field);
  p.labelFilters.push(`${field}=${logqlString(value)}`);
}

function recordPipeline(filters: RecordFilters): Pipeline {
  const p: Pipeline = { lineFilters: [], fields: [], labelFilters: [] };
  stringFilter(p, "request_id", filters.requestId);
  stringFilter(p, "model", filters.model);
  stringFilter(p, "client", filters.client);
  stringFilter(p, "endpoint", filters.endpoint);
  stringFilter(p, "outcome", filters.outcome);
  const status = filters.status;
  if (status?.kind === "code") {
    p.lineFilters.push(`|= ${logqlString(jsonMember("status", status.code))}`);
    p.fields.push("status");
    p.labelFilters.push(`status=${status.code}`);
  } else if (status?.kind === "class") {
    const low = status.hundreds * 100;
    p.lineFilters.push(
      `|~ ${logqlString(`"status":${status.hundreds}[0-9]{2}[,}]`)}`,
    );
    p.fields.push("status");
    p.labelFilters.push(`status>=${low}, status<${low + 100}`);
  }
  if (filters.promptSearch !== undefined) {
    // The raw line holds the prompt JSON-escaped, the parsed label holds it decoded: search each in its form.
    const encoded = JSON.stringify(filters.promptSearch.toWellFormed()).slice(
      1,
      -1,
    );
    p.lineFilters.push(`|~ ${logqlString(`(?i)${escapeRegex(encoded)}`)}`);
    p.fields.push("prompt");
    // Label regexes are fully anchored; `s` lets `.` cross the newlines of multi-message prompts.
    p.labelFilters.push(
      `prompt=~${logqlString(`(?is).*${escapeRegex(filters.promptSearch)}.*`)}`,
    );
  }
  return p;
}

function renderPipeline(p: Pipeline): string {
  const parts = [...p.lineFilters];
  if (p.fields.length > 0) parts.push(`| json ${p.fields.join(", ")}`);
  for (const f of p.labelFilters) parts.push(`| ${f}`);
  return parts.join(" ");
}

/** The log query behind /analytics/search and /analytics/export. */
export function buildSearchQuery(
  selector: StreamSelector,
  filters: RecordFilters,
): string {
  const pipeline = renderPipeline(recordPipeline(filters));
  return pipeline === ""
    ? buildSelector(selector)
    : `${buildSelector(selector)} ${pipeline}`;
}

/** A LogQL range duration: the largest unit that divides `ms` exactly (`1h`, `90m`, `3600500ms`). */
export function formatLogqlDuration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (whole % size === 0) return `${whole / size}${unit}`;
  }
  return `${whole}ms`;
}

export const STAT_QUERY_KEYS = [
  "requests",
  "errors",
  "prompt_tokens",
  "completion_tokens",
  "avg_tokens_per_second",
  "latency_p50",
  "latency_p95",
  "latency_p99",
  "ttft_p50",
  "ttft_p95",
] as const;
export type StatQueryKey = (typeof STAT_QUERY_KEYS)[number];
export type StatsQueries = Record<StatQueryKey, string>;

/** Outcomes that are not counted as errors in the stats: success, and a client hanging up. */
export const NON_ERROR_OUTCOMES: readonly Outcome[] = ["ok", "client_aborted"];

/**
 * The instant metric queries behind /analytics/stats, one per statistic, each aggregated `by (model)` over a
 * range `[rangeMs]` that is evaluated at the window's end. `sum_over_time` does not take `by`, hence the outer
 * `sum by (model)`; parse errors and non-numeric unwraps are dropped with `__error__=""`.
 */
export function buildStatsQueries(
  selector: StreamSelector,
  options: { rangeMs: number; model?: string | undefined },
): StatsQueries {
  const range = `[${formatLogqlDuration(options.rangeMs)}]`;
  const base = (extra: string[]): string => {
    const modelFilter: Pipeline = {
      lineFilters: [],
      fields: [],
      labelFilters: [],
    };
    stringFilter(modelFilter, "model", options.model);
    const line = modelFilter.lineFilters.map((f) => ` ${f}`).join("");
    const labels = modelFilter.labelFilters.map((f) => ` | ${f}`).join("");
    return `${buildSelector(selector)}${line} | json ${["model", ...extra].join(", ")} | __error__=""${labels}`;
  };
  const unwrap = (field: string): string =>
    `${base([field])} | unwrap ${field} | __error__="" ${range}`;
  const quantile = (q: string, field: string): string =>
    `quantile_over_time(${q}, ${unwrap(field)}) by (model)`;
  const errorOutcomes = logqlString(
    NON_ERROR_OUTCOMES.map(escapeRegex).join("|"),
  );
  return {
    requests: `sum by (model) (count_over_time(${base([])} ${range}))`,
    errors: `sum by (model) (count_over_time(${base(["outcome"])} | outcome!~${errorOutcomes} ${range}))`,
    prompt_tokens: `sum by (model) (sum_over_time(${unwrap("prompt_tokens")}))`,
    completion_tokens: `sum by (model) (sum_over_time(${unwrap("completion_tokens")}))`,
    avg_tokens_per_second: `avg_over_time(${unwrap("tokens_per_second")}) by (model)`,
    latency_p50: quantile("0.5", "duration_ms"),
    latency_p95: quantile("0.95", "duration_ms"),
    latency_p99: quantile("0.99", "duration_ms"),
    ttft_p50: quantile("0.5", "ttft_ms"),
    ttft_p95: quantile("0.95", "ttft_ms"),
  };
}
