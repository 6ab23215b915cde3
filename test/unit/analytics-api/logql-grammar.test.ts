// Every LogQL the analytics API builds, and every ```logql block of the docs, parses with Grafana's official
// grammar (@grafana/lezer-logql) without error nodes; hostile values stay inside their literals.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parser } from "@grafana/lezer-logql";
import { describe, expect, it } from "vitest";
import {
  buildSearchQuery,
  buildStatsQueries,
  escapeRegex,
  parseLogqlString,
  STAT_QUERY_KEYS,
} from "@proxy/analytics-api/logql.ts";
import {
  parseSearchParams,
  parseStatsParams,
  type ParamLimits,
} from "@proxy/analytics-api/query-params.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

interface ParsedLogql {
  errors: string[];
  nodes: { name: string; text: string }[];
}

function parseLogql(query: string): ParsedLogql {
  const errors: string[] = [];
  const nodes: { name: string; text: string }[] = [];
  parser.parse(query).iterate({
    enter(node) {
      const text = query.slice(node.from, node.to);
      if (node.type.isError)
        errors.push(
          `at ${node.from}: ${JSON.stringify(query.slice(node.from, node.from + 40))}`,
        );
      else nodes.push({ name: node.name, text });
    },
  });
  return { errors, nodes };
}

const count = (p: ParsedLogql, name: string): number =>
  p.nodes.filter((n) => n.name === name).length;
const strings = (p: ParsedLogql): (string | undefined)[] =>
  p.nodes
    .filter((n) => n.name === "String")
    .map((n) => parseLogqlString(n.text));

const selector = {
  service_name: "ollama-proxy",
  log_type: "request",
  env: "dev",
};
const cases = HOSTILE_VALUES.map(
  (v) => [JSON.stringify(v).slice(0, 40), v] as const,
);

describe("search LogQL with hostile values", () => {
  it("the checks catch an injection that unescaped interpolation would allow", () => {
    const value = '" | json | model=~".*';
    const naive = parseLogql(`{service_name="ollama-proxy"} |= "${value}"`);
    // Parses fine, which is why the node counts and decoded literals are checked as well:
    expect(naive.errors).toEqual([]);
    expect(count(naive, "LineFilter")).toBe(1);
    expect(count(naive, "LabelParser")).toBe(1);
    expect(strings(naive)).not.toContain(value);
    expect(parseLogql('{a="b"} |= "unterminated').errors).not.toEqual([]);
  });

  it.each(cases)("keeps %s inside its literals", (_name, value) => {
    const query = buildSearchQuery(selector, {
      requestId: value,
      model: value,
      client: value,
      endpoint: value,
      outcome: "ok",
      status: { kind: "code", code: 200 },
      promptSearch: value,
    });
    const parsed = parseLogql(query);
    expect(parsed.errors).toEqual([]);
    // 3 selector matchers; 7 line filters; one json parser extracting 7 fields; 7 label-filter stages.
    expect(count(parsed, "Selector")).toBe(1);
    expect(count(parsed, "Matcher")).toBe(3 + 6); // selector + string label filters
    expect(count(parsed, "LineFilter")).toBe(7);
    expect(count(parsed, "JsonExpressionParser")).toBe(1);
    expect(count(parsed, "LabelExtractionExpression")).toBe(7);
    expect(count(parsed, "LabelFilter")).toBe(7);
    // Adjacent line filters form one stage: 1 line-filter stage + 1 parser + 7 label-filter stages.
    expect(count(parsed, "PipelineStage")).toBe(1 + 1 + 7);
    const json = (field: string, v: string | number): string =>
      `"${field}":${JSON.stringify(v)}`;
    expect(strings(parsed)).toEqual([
      "ollama-proxy",
      "request",
      "dev",
      json("request_id", value),
      json("model", value),
      json("client", value),
      json("endpoint", value),
      json("outcome", "ok"),
      json("status", 200),
      `(?i)${escapeRegex(JSON.stringify(value).slice(1, -1))}`,
      value,
      value,
      value,
      value,
      "ok",
      `(?is).*${escapeRegex(value)}.*`,
    ]);
  });

  it.each(cases)("keeps %s inside the stream selector", (_name, value) => {
    const parsed = parseLogql(
      buildSearchQuery(
        { service_name: value, log_type: value, env: value },
        {},
      ),
    );
    expect(parsed.errors).toEqual([]);
    expect(count(parsed, "Matcher")).toBe(3);
    expect(count(parsed, "PipelineExpr")).toBe(0);
    expect(strings(parsed)).toEqual([value, value, value]);
  });

  it("parses a status-class filter", () => {
    const parsed = parseLogql(
      buildSearchQuery(selector, { status: { kind: "class", hundreds: 4 } }),
    );
    expect(parsed.errors).toEqual([]);
    expect(count(parsed, "NumberFilter")).toBe(2);
  });
});

describe("stats LogQL", () => {
  it.each(cases)(
    "keeps model %s inside its literals in every statistic",
    (_name, value) => {
      const queries = buildStatsQueries(selector, {
        rangeMs: 86_400_000,
        model: value,
      });
      for (const key of STAT_QUERY_KEYS) {
        const parsed = parseLogql(queries[key]);
        expect(parsed.errors, key).toEqual([]);
        expect(count(parsed, "MetricExpr"), key).toBeGreaterThan(0);
        expect(count(parsed, "LineFilter"), key).toBe(1);
        const decoded = strings(parsed);
        expect(decoded.slice(0, 4), key).toEqual([
          "ollama-proxy",
          "request",
          "dev",
          `"model":${JSON.stringify(value)}`,
        ]);
        expect(decoded, key).toContain(value);
      }
    },
  );

  it("uses unwrap for sums and quantiles, count_over_time for counts", () => {
    const queries = buildStatsQueries(selector, { rangeMs: 3_600_000 });
    for (const key of STAT_QUERY_KEYS) {
      const parsed = parseLogql(queries[key]);
      expect(parsed.errors, key).toEqual([]);
      const ops = parsed.nodes
        .filter((n) => n.name === "RangeOp")
        .map((n) => n.text);
      const expected =
        key === "requests" || key === "errors"
          ? "count_over_time"
          : key.endsWith("tokens")
            ? "sum_over_time"
            : key === "avg_tokens_per_second"
              ? "avg_over_time"
              : "quantile_over_time";
      expect(ops, key).toEqual([expected]);
      expect(count(parsed, "Unwrap"), key).toBe(
        expected === "count_over_time" ? 0 : 1,
      );
      expect(parsed.nodes.find((n) => n.name === "Range")?.text, key).toBe(
        "[1h]",
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// The docs: every ```logql block of docs/logql-cookbook.md and README.md.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const DOCS = ["docs/logql-cookbook.md", "README.md"];

interface LogqlBlock {
  file: string;
  line: number;
  /** The `<!-- analytics-api: /analytics/… -->` marker right above the block, if any. */
  route: string | undefined;
  queries: string[];
}

/** Grafana's global variables, replaced by a duration as Grafana does before it sends a query. */
function substituteGrafanaVariables(query: string): string {
  return query.replace(
    /\$\{?__(?:interval|range|auto|rate_interval)\}?/g,
    "5m",
  );
}

/** Queries in a block are separated by blank lines; `#` lines are comments. */
function splitQueries(block: string): string[] {
  return block
    .split(/\n\s*\n/)
    .map((chunk) =>
      chunk
        .split("\n")
        .filter((l) => !/^\s*#/.test(l))
        .join("\n")
        .trim(),
    )
    .filter((q) => q !== "");
}

function logqlBlocks(file: string): LogqlBlock[] {
  const path = `${root}${file}`;
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const blocks: LogqlBlock[] = [];
  const fence = /^```logql[^\n]*\n([\s\S]*?)^```/gm;
  for (const m of text.matchAll(fence)) {
    const before = text.slice(0, m.index);
    const marker = /<!--\s*analytics-api:\s*(\S+)\s*-->\s*$/.exec(before);
    blocks.push({
      file,
      line: before.split("\n").length,
      route: marker?.[1],
      queries: splitQueries(m[1] ?? ""),
    });
  }
  return blocks;
}

const blocks = DOCS.flatMap(logqlBlocks);
const docQueries = blocks.flatMap((b) =>
  b.queries.map((q, i) => [`${b.file}:${b.line} #${i + 1}`, q] as const),
);

describe("LogQL in the docs", () => {
  it("the cookbook exists and has the required recipes", () => {
    const cookbook = blocks.filter((b) => b.file === "docs/logql-cookbook.md");
    expect(cookbook.length).toBeGreaterThanOrEqual(9);
    const all = cookbook.flatMap((b) => b.queries).join("\n");
    for (const needle of [
      "(?i)",
      "topk",
      "unwrap",
      "quantile_over_time",
      "client",
      "category",
      "request_id",
      "user_agent",
    ]) {
      expect(all, needle).toContain(needle);
    }
  });

  it.each(docQueries)("%s parses without error nodes", (_where, query) => {
    const parsed = parseLogql(substituteGrafanaVariables(query));
    expect(parsed.errors, query).toEqual([]);
    expect(count(parsed, "Expr"), query).toBeGreaterThan(0);
  });

  const limits: ParamLimits = {
    nowMs: Date.UTC(2025, 0, 1, 12),
    defaultWindowMs: 3_600_000,
    maxWindowMs: 30 * 86_400_000,
    maxLimit: 5000,
    defaultLimit: 100,
    maxExportRecords: 100_000,
  };
  const docSelector = { service_name: "ollama-proxy", log_type: "request" };
  const routed = blocks
    .filter((b) => b.route !== undefined)
    .map((b) => [`${b.file}:${b.line} ${b.route}`, b] as const);

  it("documents what each analytics route runs", () => {
    const routes = routed.map(
      ([, b]) => new URL(b.route ?? "", "http://x").pathname,
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        "/analytics/search",
        "/analytics/stats",
        "/analytics/export",
      ]),
    );
  });

  it.each(routed)(
    "%s shows exactly the LogQL the route builds",
    (_where, block) => {
      const url = new URL(block.route ?? "", "http://x");
      if (url.pathname === "/analytics/stats") {
        const parsed = parseStatsParams(url.searchParams, limits);
        if (!parsed.ok) throw new Error(parsed.error);
        const queries = buildStatsQueries(docSelector, {
          rangeMs: parsed.value.window.endMs - parsed.value.window.startMs,
          model: parsed.value.model,
        });
        expect(block.queries).toEqual(STAT_QUERY_KEYS.map((k) => queries[k]));
      } else {
        url.searchParams.delete("format");
        const parsed = parseSearchParams(url.searchParams, limits);
        if (!parsed.ok) throw new Error(parsed.error);
        expect(block.queries).toEqual([
          buildSearchQuery(docSelector, parsed.value.filters),
        ]);
      }
    },
  );
});
