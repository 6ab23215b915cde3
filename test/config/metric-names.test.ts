// Every metric a dashboard or rule names must exist: `ollama_*` names in proxy/src/metrics/definitions.ts (read
// from its `name:` fields; histograms expose _bucket/_sum/_count) or among prom-client's default process metrics
// under the prefix definitions.ts gives them; `level:metric:op` names must be recorded by a rule; anything else
// must come from a component the stack scrapes (Prometheus, Loki, Tempo, Grafana, node-exporter, the GPU exporter).
import { Registry, collectDefaultMetrics } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  dashboardQueries,
  metricNames,
  ruleQueries,
  rules,
  substituteVariables,
} from "./queries.ts";
import { readText } from "./repo-files.ts";

const DEFINITIONS = "proxy/src/metrics/definitions.ts";

function definedNames(): Set<string> {
  const source = readText(DEFINITIONS);
  const names = new Set<string>();
  for (const m of source.matchAll(
    /new (Counter|Gauge|Histogram|Summary)\(\{\s*name:\s*"([a-zA-Z_:][\w:]*)"/g,
  )) {
    const [, type, name] = m as unknown as [string, string, string];
    if (type === "Histogram")
      ["_bucket", "_sum", "_count"].forEach((s) => names.add(name + s));
    else if (type === "Summary")
      ["", "_sum", "_count"].forEach((s) => names.add(name + s));
    else names.add(name);
  }
  return names;
}

async function defaultMetricNames(): Promise<Set<string>> {
  const prefix = /collectDefaultMetrics\(\{[^}]*prefix:\s*"([^"]*)"/.exec(
    readText(DEFINITIONS),
  )?.[1];
  if (prefix === undefined) return new Set();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    if (String(metric.type) === "histogram")
      ["_bucket", "_sum", "_count"].forEach((s) => names.add(metric.name + s));
    else names.add(metric.name);
  }
  registry.clear();
  return names;
}

/** Metrics of the other scraped components; their names are not ours to check beyond the family. */
const EXTERNAL = [
  /^up$/,
  /^ALERTS(_FOR_STATE)?$/,
  /^prometheus_/,
  /^loki_/,
  /^tempo_/,
  /^grafana_/,
  /^node_/,
  /^DCGM_FI_/,
];

const referenced = [...dashboardQueries(), ...ruleQueries()]
  .filter((q) => q.language === "promql")
  .flatMap((q) =>
    metricNames(substituteVariables(q.expr)).map((name) => ({
      name,
      where: q.where,
    })),
  );

describe("metric names", () => {
  it("reads the proxy's metric definitions", () => {
    const names = definedNames();
    expect(names).toContain("ollama_requests_total");
    expect(names).toContain("ollama_time_to_first_token_seconds_bucket");
    expect(names).not.toContain("ollama_time_to_first_token_seconds");
  });

  it("every ollama_* metric named by a dashboard or rule is defined by the proxy", async () => {
    expect(
      referenced.filter((r) => r.name.startsWith("ollama_")).length,
    ).toBeGreaterThan(50);
    const known = new Set([...definedNames(), ...(await defaultMetricNames())]);
    expect(known).toContain("ollama_proxy_process_resident_memory_bytes");
    const unknown = referenced.filter(
      (r) => r.name.startsWith("ollama_") && !known.has(r.name),
    );
    expect(
      unknown,
      "not in proxy/src/metrics/definitions.ts (nor a default metric)",
    ).toEqual([]);
  });

  it("every recording-rule name used is recorded by a rule", () => {
    const recorded = new Set(
      rules().flatMap((r) => (r.record ? [r.record] : [])),
    );
    const missing = referenced.filter(
      (r) => r.name.includes(":") && !recorded.has(r.name),
    );
    expect(missing).toEqual([]);
  });

  it("every other metric comes from a scraped component", () => {
    const stray = referenced.filter(
      (r) =>
        !r.name.startsWith("ollama_") &&
        !r.name.includes(":") &&
        !EXTERNAL.some((re) => re.test(r.name)),
    );
    expect(stray).toEqual([]);
  });

  it("histograms are queried through their series, never by the bare name", () => {
    const histogramBases = [...definedNames()]
      .filter((n) => n.endsWith("_bucket"))
      .map((n) => n.slice(0, -"_bucket".length));
    const bare = referenced.filter((r) => histogramBases.includes(r.name));
    expect(bare).toEqual([]);
  });
});
