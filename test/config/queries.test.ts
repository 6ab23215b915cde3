// Every PromQL expression (dashboards, recording and alerting rules, variable queries) and every LogQL expression
// (dashboards, the README's ```logql blocks) parses with the official grammars, after Grafana's variables are
// replaced by sample values; and every variable a dashboard uses is one it declares (or a Grafana built-in).
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  VARIABLE_SAMPLES,
  dashboardFiles,
  dashboardQueries,
  panelsOf,
  readDashboard,
  ruleQueries,
  substituteVariables,
  syntaxErrors,
  variableNames,
  variablesOf,
  type Query,
} from "./queries.ts";
import { asList, asString, isDict, repoPath, readText } from "./repo-files.ts";

const all = [...dashboardQueries(), ...ruleQueries()];
const label = (q: Query) => q.where;

describe("PromQL", () => {
  const promql = all.filter((q) => q.language === "promql");

  it("finds the expressions (dashboards and rules)", () => {
    expect(
      promql.filter((q) => q.where.startsWith("grafana/")).length,
    ).toBeGreaterThan(30);
    expect(
      promql.filter((q) => q.where.startsWith("prometheus/")).length,
    ).toBeGreaterThan(20);
  });

  it.each(promql.map((q) => [label(q), q] as const))(
    "parses: %s",
    (_, query) => {
      expect(
        syntaxErrors("promql", substituteVariables(query.expr)),
        query.expr,
      ).toEqual([]);
    },
  );

  it("catches a broken expression (the check itself works)", () => {
    expect(
      syntaxErrors("promql", "sum(rate(ollama_requests_total[5m])"),
    ).not.toEqual([]);
    expect(syntaxErrors("promql", "sum by (model) rate(x[5m]))")).not.toEqual(
      [],
    );
  });

  it.each(dashboardFiles())(
    "variable queries of %s parse (the selector inside label_values)",
    (file) => {
      for (const variable of variablesOf(readDashboard(file))) {
        if (variable.type !== "query") continue;
        const query = asString(variable.query) ?? "";
        const inner = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
        expect(
          inner,
          `${file} variable ${asString(variable.name)}: ${query}`,
        ).toBeDefined();
        expect(
          syntaxErrors("promql", substituteVariables(inner ?? "")),
          query,
        ).toEqual([]);
      }
    },
  );
});

describe("LogQL", () => {
  const logql = all.filter((q) => q.language === "logql");

  it("finds the expressions of the prompt analytics dashboard", () => {
    expect(logql.length).toBeGreaterThanOrEqual(7);
  });

  it.each(logql.map((q) => [label(q), q] as const))(
    "parses: %s",
    (_, query) => {
      expect(
        syntaxErrors("logql", substituteVariables(query.expr)),
        query.expr,
      ).toEqual([]);
    },
  );

  it("catches a broken expression (the check itself works)", () => {
    expect(
      syntaxErrors("logql", '{service_name="ollama-proxy"} | json | | x'),
    ).not.toEqual([]);
    expect(
      syntaxErrors("logql", 'sum by (model) (count_over_time({a="b"}))'),
    ).not.toEqual([]);
  });

  it("selects the analytics records by their stream labels only", () => {
    for (const query of logql) {
      expect(query.expr, query.where).toContain(
        '{service_name="ollama-proxy", log_type="request"}',
      );
    }
  });

  const readme = existsSync(repoPath("README.md")) ? readText("README.md") : "";
  const blocks = [...readme.matchAll(/```logql\n([\s\S]*?)```/g)].flatMap((m) =>
    (m[1] ?? "")
      .split(/\n(?=\S)/)
      .map((s) => s.replace(/\s+#.*$/gm, "").trim())
      .filter((s) => s !== "" && !s.startsWith("#")),
  );
  it.skipIf(blocks.length === 0)(
    `README.md's \`\`\`logql blocks parse${blocks.length === 0 ? " (skipped: README.md has no ```logql block yet)" : ""}`,
    () => {
      for (const expr of blocks) {
        expect(syntaxErrors("logql", substituteVariables(expr)), expr).toEqual(
          [],
        );
      }
    },
  );
});

describe("dashboard variables", () => {
  it.each(dashboardFiles())("%s uses only variables it declares", (file) => {
    const dashboard = readDashboard(file);
    const declared = new Set(
      variablesOf(dashboard).map((v) => asString(v.name)),
    );
    const used = new Set<string>();
    for (const panel of panelsOf(dashboard)) {
      for (const target of asList(panel.targets).filter(isDict)) {
        variableNames(asString(target.expr) ?? "").forEach((name) =>
          used.add(name),
        );
      }
      variableNames(asString(panel.title) ?? "").forEach((name) =>
        used.add(name),
      );
    }
    for (const name of used) {
      if (name.startsWith("__"))
        expect(VARIABLE_SAMPLES, `built-in $${name}`).toHaveProperty(name);
      else
        expect(
          declared.has(name),
          `${file} uses $${name} without declaring it`,
        ).toBe(true);
    }
  });
});
