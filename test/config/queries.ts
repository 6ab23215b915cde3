// Every PromQL and LogQL expression of the stack, collected from the committed dashboards and the rule files,
// plus the parsers the tests check them with (@prometheus-io/lezer-promql, @grafana/lezer-logql: the grammars
// Prometheus's and Grafana's own editors use).
import { parser as logqlParser } from "@grafana/lezer-logql";
import { parser as promqlParser } from "@prometheus-io/lezer-promql";
import {
  asDict,
  asList,
  asString,
  isDict,
  listFiles,
  readJson,
  readYaml,
  type Dict,
} from "./repo-files.ts";

export type Language = "promql" | "logql";

export interface Query {
  /** Where it comes from, for failure messages: file › panel › refId. */
  where: string;
  language: Language;
  expr: string;
}

// ------------------------------------------------------------------------------------------ dashboards

export function dashboardFiles(): string[] {
  return listFiles("grafana/dashboards", ".json");
}

export function readDashboard(file: string): Dict {
  return asDict(readJson(file), file);
}

/** Every panel, the ones nested in collapsed rows included. */
export function panelsOf(dashboard: Dict): Dict[] {
  const out: Dict[] = [];
  const visit = (panels: unknown): void => {
    for (const panel of asList(panels).filter(isDict)) {
      out.push(panel);
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

export function variablesOf(dashboard: Dict): Dict[] {
  return asList(
    isDict(dashboard.templating) ? dashboard.templating.list : [],
  ).filter(isDict);
}

export function datasourceOf(
  ...candidates: unknown[]
): { type?: string; uid?: string } | undefined {
  for (const candidate of candidates) {
    if (isDict(candidate))
      return { type: asString(candidate.type), uid: asString(candidate.uid) };
  }
  return undefined;
}

const LANGUAGE_OF: Record<string, Language> = {
  prometheus: "promql",
  loki: "logql",
};

export function dashboardQueries(): Query[] {
  const queries: Query[] = [];
  for (const file of dashboardFiles()) {
    for (const panel of panelsOf(readDashboard(file))) {
      for (const target of asList(panel.targets).filter(isDict)) {
        const expr = asString(target.expr);
        const type = datasourceOf(target.datasource, panel.datasource)?.type;
        const language = type === undefined ? undefined : LANGUAGE_OF[type];
        if (expr === undefined || language === undefined) continue;
        queries.push({
          where: `${file} › "${asString(panel.title)}" › ${asString(target.refId)}`,
          language,
          expr,
        });
      }
    }
  }
  return queries;
}

// ------------------------------------------------------------------------------------------ rule files

export function ruleFiles(): string[] {
  return listFiles("prometheus/rules", ".rules.yaml");
}

export interface Rule {
  file: string;
  group: string;
  record?: string;
  alert?: string;
  expr: string;
  labels: Dict;
  annotations: Dict;
  for?: string;
}

export function rules(): Rule[] {
  const out: Rule[] = [];
  for (const file of ruleFiles()) {
    for (const group of asList(asDict(readYaml(file), file).groups).filter(
      isDict,
    )) {
      for (const rule of asList(group.rules).filter(isDict)) {
        out.push({
          file,
          group: asString(group.name) ?? "?",
          record: asString(rule.record),
          alert: asString(rule.alert),
          expr: asString(rule.expr) ?? "",
          labels: isDict(rule.labels) ? rule.labels : {},
          annotations: isDict(rule.annotations) ? rule.annotations : {},
          for: asString(rule.for),
        });
      }
    }
  }
  return out;
}

export function ruleQueries(): Query[] {
  return rules().map((rule) => ({
    where: `${rule.file} › ${rule.record ?? rule.alert ?? "?"}`,
    language: "promql",
    expr: rule.expr,
  }));
}

// -------------------------------------------------------------------------------- Grafana's variables

/** Values that make each variable expand to valid syntax, as Grafana would send it. */
export const VARIABLE_SAMPLES: Record<string, string> = {
  // Grafana's built-ins.
  __rate_interval: "1m",
  __interval: "1m",
  __auto: "1m",
  __range: "1h",
  // The dashboards' own variables (multi-value "All" = .*).
  instance: ".*",
  model: ".*",
  backend: ".*",
  search: "kubernetes",
  request_id: "0f3c2b1a-request",
};

const VARIABLE = /\$(?:\{(\w+)(?::\w+)?\}|(\w+))/g;

/** Names of the `$var` / `${var}` references in an expression. */
export function variableNames(expr: string): string[] {
  return [...expr.matchAll(VARIABLE)].map((m) => m[1] ?? m[2] ?? "");
}

export function substituteVariables(expr: string): string {
  return expr.replace(VARIABLE, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? "";
    const value = VARIABLE_SAMPLES[name];
    if (value === undefined)
      throw new Error(`unknown Grafana variable ${whole} in: ${expr}`);
    return value;
  });
}

// ---------------------------------------------------------------------------------------------- parsing

/** Error nodes of the parse tree, each with a little context. Empty = the expression parses. */
export function syntaxErrors(language: Language, expr: string): string[] {
  const parser = language === "promql" ? promqlParser : logqlParser;
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) {
        const at = Math.max(0, node.from - 20);
        errors.push(
          `at ${node.from}: …${expr.slice(at, node.from)}⚠${expr.slice(node.from, node.from + 20)}…`,
        );
      }
    },
  });
  return errors;
}

/** Metric names in vector selectors (`foo{…}`, `foo[5m]`), in order of appearance. */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  promqlParser.parse(expr).iterate({
    enter(node) {
      if (
        node.name === "Identifier" &&
        node.node.parent?.name === "VectorSelector"
      ) {
        names.push(expr.slice(node.from, node.to));
      }
    },
  });
  return names;
}
