// Every PromQL expression of the dashboards and rules, executed against a real Prometheus (Debian's) that
// scraped the real proxy while the traffic generator drove it against the emulator: each must return data.
// Expressions over components that cannot run here (Loki, Tempo, Grafana, an NVIDIA GPU) are skipped by name.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { startFakeOtlp, type FakeOtlp } from "../../fixtures/fake-otlp.ts";
import type { SyntaxNode } from "@lezer/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTrafficArgs } from "../../../tools/traffic/args.ts";
import { runTraffic } from "../../../tools/traffic/run.ts";
import {
  dashboardQueries,
  metricNames,
  rules,
  substituteVariables,
  type Query,
} from "../../config/queries.ts";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { freePort } from "../../helpers/free-port.ts";
import { parseExposition } from "../../helpers/metrics.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROMETHEUS = "/usr/bin/prometheus";
const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";

/** Why an expression cannot return data on this machine, or undefined when it must. */
function unavailable(expr: string): string | undefined {
  if (/\bloki_/.test(expr) || /job="loki"/.test(expr))
    return "needs a real Loki (its own metrics)";
  if (/\btempo_/.test(expr) || /job="tempo"/.test(expr))
    return "needs a real Tempo (its own metrics)";
  if (/\bgrafana_/.test(expr) || /job="grafana"/.test(expr))
    return "needs a real Grafana";
  if (/DCGM_|gpu_memory_capacity/.test(expr))
    return "needs an NVIDIA GPU and the DCGM exporter";
  if (/\bnode_/.test(expr) && !existsSync(NODE_EXPORTER))
    return "prometheus-node-exporter is not installed";
  return undefined;
}

const COMPARISONS = new Set(["Gtr", "Lss", "Gte", "Lte", "Eql", "Neq"]);
// Both sides of `and` must have data for the alert to fire; `or` and `unless` are checked as a whole.
const SPLIT_OPERATORS = new Set(["And"]);

/** The expression's text with every `X <op> number` comparison replaced by X. */
function withoutThresholds(expr: string, node: SyntaxNode): string {
  const operator =
    node.name === "BinaryExpr" ? node.firstChild?.nextSibling : undefined;
  if (
    operator &&
    COMPARISONS.has(operator.name) &&
    node.lastChild?.name === "NumberDurationLiteral"
  ) {
    return withoutThresholds(expr, node.firstChild!);
  }
  let text = "";
  let at = node.from;
  for (let child = node.firstChild; child; child = child.nextSibling) {
    text += expr.slice(at, child.from) + withoutThresholds(expr, child);
    at = child.to;
  }
  return text + expr.slice(at, node.to);
}

/**
 * The signals an alert compares: `a > 5 and b > 0` → [a, b]. A healthy system keeps the alert itself
 * empty, so what must return data is each compared quantity.
 */
function alertSignals(expr: string): string[] {
  const signals: string[] = [];
  const visit = (node: SyntaxNode) => {
    const operator =
      node.name === "BinaryExpr" ? node.firstChild?.nextSibling : undefined;
    if (operator && SPLIT_OPERATORS.has(operator.name)) {
      visit(node.firstChild!);
      visit(node.lastChild!);
      return;
    }
    signals.push(withoutThresholds(expr, node).trim());
  };
  const top = parser.parse(expr).topNode.firstChild;
  if (top) visit(top);
  return signals;
}

function spawnQuiet(
  command: string,
  args: string[],
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return { child, output: () => output };
}

async function instantQuery(
  prometheusUrl: string,
  expr: string,
): Promise<unknown[]> {
  const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const body = (await (await fetch(url)).json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: unknown };
  };
  if (body.status !== "success")
    throw new Error(`${body.error ?? "query failed"}: ${expr}`);
  const result = body.data?.result;
  if (body.data?.resultType === "scalar") return [result];
  return Array.isArray(result) ? (result as unknown[]) : [];
}

interface Case {
  where: string;
  expr: string;
}

const dashboardCases: Case[] = dashboardQueries()
  .filter((query: Query) => query.language === "promql")
  .map((query) => ({
    where: query.where,
    expr: substituteVariables(query.expr),
  }));
const recordingCases: Case[] = rules()
  .filter((rule) => rule.record)
  .map((rule) => ({ where: `${rule.file} › ${rule.record}`, expr: rule.expr }));
const alertCases: Case[] = rules()
  .filter((rule) => rule.alert)
  .flatMap((rule) =>
    alertSignals(rule.expr).map((signal) => ({
      where: `${rule.file} › ${rule.alert} › ${signal}`,
      expr: signal,
    })),
  );

describe.skipIf(!existsSync(PROMETHEUS))(
  `dashboards and rules against a Prometheus that scraped the proxy${existsSync(PROMETHEUS) ? "" : ` (skipped: no ${PROMETHEUS}; Debian: apt-get install prometheus)`}`,
  () => {
    let emulator: Emulator;
    let loki: FakeLoki;
    let otlp: FakeOtlp;
    let redis: RedisServer;
    let proxy: ProxyProcess;
    let prometheusUrl: string;
    let workdir: string;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      emulator = await createEmulator({
        port: 0,
        models: [
          {
            name: "llama3.2:latest",
            ttftMs: 20,
            tokensPerSecond: 400,
            loadMs: 50,
          },
          {
            name: "qwen3:0.6b",
            capabilities: ["completion", "tools", "thinking"],
            ttftMs: 10,
            tokensPerSecond: 600,
          },
          {
            name: "all-minilm:latest",
            kind: "embedding",
            capabilities: ["embedding"],
          },
        ],
      });
      loki = await createFakeLoki();
      redis = await startRedisServer();
      otlp = await startFakeOtlp();
      proxy = await startProxy({
        // Traced: the latency histograms carry exemplars (trace ids) that this Prometheus stores.
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_BSP_SCHEDULE_DELAY: "200",
        OLLAMA_URL: emulator.url,
        LOKI_URL: loki.url,
        REDIS_URL: redis.url,
        POLL_INTERVAL_MS: "500",
        CLIENT_HEADER: "X-OpenWebUI-User-Name",
        // A low global limit so that bursts queue and the queue-wait panels have data.
        MAX_CONCURRENT: "2",
      });

      workdir = await mkdtemp(join(tmpdir(), "live-promql-"));
      const targets: string[] = [];
      if (existsSync(NODE_EXPORTER)) {
        const nodePort = await freePort();
        const node = spawnQuiet(NODE_EXPORTER, [
          `--web.listen-address=127.0.0.1:${nodePort}`,
          "--collector.disable-defaults",
          "--collector.cpu",
          "--collector.meminfo",
          "--collector.filesystem",
        ]);
        children.push(node.child);
        targets.push(
          `  - job_name: node\n    static_configs: [{ targets: ["127.0.0.1:${nodePort}"] }]`,
        );
      }
      const promPort = await freePort();
      prometheusUrl = `http://127.0.0.1:${promPort}`;
      const config = [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: ["${join(ROOT, "prometheus/rules/ollama-proxy.rules.yaml")}"]`,
        "scrape_configs:",
        `  - job_name: ollama-proxy\n    static_configs: [{ targets: ["127.0.0.1:${proxy.port}"] }]`,
        `  - job_name: prometheus\n    static_configs: [{ targets: ["127.0.0.1:${promPort}"] }]`,
        ...targets,
      ].join("\n");
      await writeFile(join(workdir, "prometheus.yml"), config);
      const prometheus = spawnQuiet(PROMETHEUS, [
        `--config.file=${join(workdir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(workdir, "data")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--enable-feature=exemplar-storage",
      ]);
      children.push(prometheus.child);
      await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`)).ok, {
        timeoutMs: 20_000,
        message: `prometheus did not start: ${prometheus.output()}`,
      });

      // Realistic mixed load: streaming and not, native and /v1, embeddings, an unknown model, an aborted stream.
      const parsed = parseTrafficArgs(
        [
          "--url",
          proxy.url,
          "--mode",
          "demo",
          "--duration",
          "12s",
          "--rate",
          "12",
          "--concurrency",
          "6",
          "--seed",
          "7",
        ],
        {},
        0,
      );
      if (parsed.kind !== "run") throw new Error(JSON.stringify(parsed));
      await runTraffic(
        { ...parsed.options, maxTokens: 24, faults: true },
        { runId: "live" },
      );
      // Failures the generator does not cause, so that the error panels and the error-ratio alert have data.
      for (const fault of [
        "error-mid-stream",
        "error-before-first-chunk",
        "busy",
      ]) {
        const response = await fetch(`${proxy.url}/api/chat`, {
          method: "POST",
          headers: { "x-emulator-fault": fault },
          body: JSON.stringify({
            model: "llama3.2",
            messages: [{ role: "user", content: "fail, please" }],
          }),
        });
        await response.text();
      }
      // Two more scrapes and rule evaluations after the last request.
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }, 120_000);

    afterAll(async () => {
      for (const child of children) child.kill("SIGKILL");
      await proxy?.stop("SIGKILL");
      await redis?.close();
      await loki?.close();
      await otlp?.close();
      await emulator?.close();
      if (workdir) await rm(workdir, { recursive: true, force: true });
    });

    it("stores the latency histograms' exemplars: trace ids of spans the proxy exported", async () => {
      const end = Date.now() / 1000;
      const params = new URLSearchParams({
        query: "ollama_request_duration_seconds_bucket",
        start: String(end - 600),
        end: String(end),
      });
      const response = await fetch(
        `${prometheusUrl}/api/v1/query_exemplars?${params.toString()}`,
      );
      const body = (await response.json()) as {
        data: Array<{ exemplars: Array<{ labels: { trace_id?: string } }> }>;
      };
      const traceIds = body.data.flatMap((series) =>
        series.exemplars.map((exemplar) => exemplar.labels.trace_id),
      );
      expect(traceIds.length).toBeGreaterThan(0);
      const exported = new Set(otlp.spans.map((span) => span.traceId));
      for (const id of traceIds) expect(exported.has(id ?? "")).toBe(true);
    });

    const check = (cases: Case[]) => {
      const runnable = cases.filter((c) => unavailable(c.expr) === undefined);
      const skipped = cases
        .filter((c) => unavailable(c.expr) !== undefined)
        .map((c) => ({ ...c, reason: unavailable(c.expr) }));
      it.each(runnable)("$where", async ({ expr }) => {
        const result = await instantQuery(prometheusUrl, expr);
        expect(result, `no data for: ${expr}`).not.toHaveLength(0);
      });
      // Reported as skipped, with the reason, so that nobody mistakes them for checked.
      if (skipped.length > 0)
        it.skip.each(skipped)("$where ($reason)", () => undefined);
    };

    describe("dashboard panels", () => check(dashboardCases));
    describe("recording rules", () => check(recordingCases));
    describe("what each alert compares", () => check(alertCases));

    it("exposes every ollama_* metric a dashboard or rule names", async () => {
      const exposed = new Set(
        parseExposition(await (await fetch(`${proxy.url}/metrics`)).text()).map(
          (s) => s.name,
        ),
      );
      const named = new Set(
        [...dashboardCases, ...recordingCases, ...alertCases].flatMap((c) =>
          metricNames(c.expr).filter((name) => name.startsWith("ollama_")),
        ),
      );
      expect(named.size).toBeGreaterThan(20);
      for (const name of named) expect(exposed, name).toContain(name);
    });
  },
);
