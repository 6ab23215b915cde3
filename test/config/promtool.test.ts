// Prometheus config and rules through promtool (Debian's `prometheus` package; .ci/run installs it):
// `check config` (which also loads the rule files and file_sd targets, relative to the config file),
// `check rules` and `test rules`. Plus the conventions promtool cannot see: every alert carries a severity,
// a summary, a description and a runbook hint, and has a firing and a quiet unit test; every recording rule
// is exercised by a unit test.
import { describe, expect, it } from "vitest";
import { rules, ruleFiles } from "./queries.ts";
import {
  asDict,
  asList,
  asString,
  isDict,
  listFiles,
  readYaml,
  run,
  which,
} from "./repo-files.ts";

const promtool = which("promtool");
const skipReason = promtool
  ? ""
  : " (skipped: promtool not found; `apt-get install prometheus` provides it)";
const testFiles = listFiles("prometheus/rules", ".rules.test.yaml");

function promtoolPasses(args: string[]): void {
  const { status, output } = run(promtool ?? "promtool", args);
  expect(status, `promtool ${args.join(" ")}\n${output}`).toBe(0);
}

describe.skipIf(!promtool)(`promtool${skipReason}`, () => {
  it("check config prometheus/prometheus.yaml", () => {
    promtoolPasses(["check", "config", "prometheus/prometheus.yaml"]);
  });

  it.each(ruleFiles())("check rules %s", (file) => {
    promtoolPasses(["check", "rules", file]);
  });

  it.each(testFiles)("test rules %s", (file) => {
    promtoolPasses(["test", "rules", file]);
  });
});

interface AlertCase {
  alertname: string;
  firing: boolean;
}

function alertCases(): AlertCase[] {
  const cases: AlertCase[] = [];
  for (const file of testFiles) {
    for (const test of asList(asDict(readYaml(file), file).tests).filter(
      isDict,
    )) {
      for (const check of asList(test.alert_rule_test).filter(isDict)) {
        cases.push({
          alertname: asString(check.alertname) ?? "",
          firing: asList(check.exp_alerts).length > 0,
        });
      }
    }
  }
  return cases;
}

function exprTests(): string[] {
  return testFiles.flatMap((file) =>
    asList(asDict(readYaml(file), file).tests)
      .filter(isDict)
      .flatMap((test) => asList(test.promql_expr_test).filter(isDict))
      .map((check) => asString(check.expr) ?? ""),
  );
}

describe("rule conventions", () => {
  const alerts = rules().filter((r) => r.alert !== undefined);
  const recordings = rules().filter((r) => r.record !== undefined);

  it("has the alerts the stack promises", () => {
    const names = new Set(alerts.map((a) => a.alert));
    for (const name of [
      "OllamaProxyDown",
      "OllamaUpstreamDown",
      "OllamaHighErrorRatio",
      "OllamaTimeToFirstTokenHigh",
      "OllamaRequestsQueueing",
      "OllamaProxySaturated",
      "OllamaProxyOutboxBacklogGrowing",
      "OllamaProxyOutboxStale",
      "OllamaProxyRecordsDropped",
      "LokiDiscardingLines",
      "OllamaProxyTraceSpansDropped",
      "TempoDiscardingSpans",
      "OllamaModelMemoryNearCapacity",
      "OllamaModelVramNearCapacity",
    ]) {
      expect(names, name).toContain(name);
    }
  });

  it.each(
    alerts.map(
      (a) => [`${a.alert} (${asString(a.labels.severity)})`, a] as const,
    ),
  )("%s has a severity, summary, description and runbook hint", (_, alert) => {
    expect(["critical", "warning", "info"]).toContain(alert.labels.severity);
    for (const key of ["summary", "description", "runbook"]) {
      expect(
        asString(alert.annotations[key])?.trim(),
        `${alert.alert}: ${key}`,
      ).toBeTruthy();
    }
  });

  it.each([...new Set(alerts.map((a) => a.alert ?? ""))])(
    "%s has a firing and a quiet unit test",
    (name) => {
      const cases = alertCases().filter((c) => c.alertname === name);
      expect(
        cases.some((c) => c.firing),
        `${name}: no alert_rule_test expecting it to fire`,
      ).toBe(true);
      expect(
        cases.some((c) => !c.firing),
        `${name}: no alert_rule_test expecting it to stay quiet`,
      ).toBe(true);
    },
  );

  it.each([...new Set(recordings.map((r) => r.record ?? ""))])(
    "recording rule %s has a unit test",
    (name) => {
      expect(
        exprTests().some((expr) =>
          new RegExp(`(^|[^\\w:])${name}([^\\w:]|$)`).test(expr),
        ),
      ).toBe(true);
    },
  );
});
