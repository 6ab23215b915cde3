// The whole stack in Docker, checked as a user would: compose.yaml + compose.test.yaml brought up by
// testcontainers, the test models pulled through the proxy, the official clients' requests (test/stack/cases),
// then Prometheus, Loki and Grafana read through their HTTP APIs, then Loki and the proxy stopped under traffic.
// Real images when a registry is reachable (CI); local stand-ins offline (test/stack/global-setup.ts), where the
// Grafana checks are skipped by name and records are read from the fake Loki instead of with LogQL.
import path from "node:path";
import { parser as logqlParser } from "@grafana/lezer-logql";
import {
  afterAll,
  beforeAll,
  beforeEach,
  describe,
  expect,
  inject,
  it,
} from "vitest";
import { scrape, sumOf } from "../helpers/metrics.ts";
import { waitFor } from "../helpers/wait-for.ts";
import {
  expectedValue,
  fill,
  loadCases,
  sendRequest,
  type Models,
  type Observed,
} from "./cases.ts";
import {
  createStack,
  missingServices,
  sourceOf,
  REPO_ROOT,
  type Stack,
} from "./compose-stack.ts";
import {
  column,
  createGrafanaClient,
  dashboardFiles,
  panelQueries,
  type GrafanaClient,
} from "./grafana-api.ts";
import { instantValue } from "./prometheus-api.ts";
import {
  createRecordSource,
  type AnalyticsRecord,
  type RecordSource,
} from "./records.ts";
import { startTraffic } from "./traffic.ts";

const images = inject("stack");
const offline = images.offline;
/** Records are read with LogQL from a real Loki, from the stand-in's inspection endpoint otherwise: a real Loki may
 * run beside other stand-ins (one built from source, checked by hand). */
const lokiStandIn = sourceOf(images.images, "grafana/loki") === "stand-in";
const without = missingServices(images.images);
const grafanaSkip = without.includes("grafana")
  ? "skipped offline: no Grafana image and no registry to pull it (there is no Grafana stand-in)"
  : undefined;
const tempoSkip = without.includes("tempo")
  ? "skipped offline: no Tempo image and no registry to pull it (there is no Tempo stand-in)"
  : undefined;

const cases = loadCases(path.join(REPO_ROOT, "test/stack/cases"));
/** The dashboards whose every panel query must return data (issue 4: overview and prompt analytics). */
const DATA_DASHBOARDS = ["ollama-overview", "ollama-prompt-analytics"];
/** Panel queries that cannot have data without the GPU variant (compose.gpu.yaml: DCGM exporter). */
const GPU_ONLY = /DCGM_|gpu_memory_capacity/;
/** How long Loki stays stopped under traffic. */
const LOKI_OUTAGE_MS = 30_000;

describe.skipIf(images.unavailable !== undefined)(
  `stack on ${offline ? "local stand-in images (offline)" : "real images"}`,
  () => {
    const stack: Stack = createStack({ without });
    const startedAtMs = Date.now();
    let failed = false;
    let proxyUrl = "";
    let prometheusUrl = "";
    let lokiUrl = "";
    let models: Models = { chat: "", embed: "" };
    let lokiEnv = "";
    let records: RecordSource;
    const observed = new Map<string, Observed[]>();
    const recordsById = new Map<string, AnalyticsRecord>();

    beforeEach(({ onTestFailed }) => {
      onTestFailed(() => {
        failed = true;
      });
    });

    beforeAll(async () => {
      if (grafanaSkip)
        console.warn(
          `Grafana checks (datasource health, dashboards present, panel queries) ${grafanaSkip}`,
        );
      if (tempoSkip)
        console.warn(`Tempo check (a request's trace by id) ${tempoSkip}`);
      try {
        await stack.up();
      } catch (error) {
        failed = true;
        throw error;
      }
      const config = await stack.config();
      const x = config["x-stack-test"] ?? {};
      models = { chat: x["chat-model"] ?? "", embed: x["embed-model"] ?? "" };
      lokiEnv = config.services.proxy?.environment?.LOKI_ENV ?? "dev";
      proxyUrl = await stack.url("proxy");
      prometheusUrl = await stack.url("prometheus");
      lokiUrl = await stack.url("loki");
      records = createRecordSource({
        lokiUrl,
        kind: lokiStandIn ? "fake-loki" : "loki",
        selector: {
          service_name: "ollama-proxy",
          log_type: "request",
          env: lokiEnv,
        },
        sinceMs: startedAtMs,
      });
    }, 20 * 60_000);

    afterAll(async () => {
      if (failed) await printDiagnostics(stack);
      await stack.down();
    }, 120_000);

    it("every service is healthy", async () => {
      const status = await stack.status();
      const unhealthy = status.filter(
        (s) => s.state !== "running" || (s.health && s.health !== "healthy"),
      );
      expect(unhealthy).toEqual([]);
      expect(status.map((s) => s.service).sort()).toEqual(
        [
          "loki",
          "node-exporter",
          "ollama",
          "prometheus",
          "proxy",
          "redis",
          ...(grafanaSkip ? [] : ["grafana"]),
          ...(tempoSkip ? [] : ["tempo"]),
        ].sort(),
      );
    });

    describe("requests through the proxy with the ollama and openai clients", () => {
      for (const c of cases)
        it(`${c.file}: ${c.name}`, async () => {
          const seen: Observed[] = [];
          for (const request of c.requests)
            seen.push(await sendRequest(proxyUrl, request, models));
          observed.set(c.file, seen);
          for (const o of seen)
            expect(o.status, o.label).toBe(o.expectedStatus);
          if (c.requests.some((r) => r.op === "pull"))
            // The proxy labels metrics only with models Ollama lists: wait until its poll has both.
            await waitFor(
              async () =>
                sumOf(await scrape(proxyUrl), "ollama_models_available") >= 2,
              { timeoutMs: 30_000, intervalMs: 500, message: "models listed" },
            );
        });
    });

    describe(`Loki has one record per request (${lokiStandIn ? "fake Loki's inspection endpoint: LogQL needs a real Loki" : "LogQL query_range"})`, () => {
      for (const c of cases) {
        const spec = c.expected.records;
        if (!spec) continue;
        it(`${c.file}: ${c.name}`, async () => {
          const seen = observed.get(c.file) ?? [];
          expect(seen.length, "the case's requests ran").toBe(
            c.requests.length,
          );
          const ids = seen.map((o) => o.requestId);
          const logqlFor = (requestId: string) =>
            fill(spec.logql, {
              env: lokiEnv,
              request_id: requestId,
              chat_model: models.chat,
              embed_model: models.embed,
            });
          // The fake Loki cannot run LogQL: the query is at least checked to parse (Loki's own grammar).
          for (const id of ids)
            expect(logqlSyntaxError(logqlFor(id)), spec.logql).toBeUndefined();
          const found = await waitFor(
            async () => {
              const byId = await records.find(ids, logqlFor);
              return [...byId.values()].every((r) => r.length > 0)
                ? byId
                : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 500, message: "records in Loki" },
          ).catch(() => records.find(ids, logqlFor));
          for (const o of seen) {
            const list = found.get(o.requestId) ?? [];
            expect(list, `${o.label} (${o.requestId}): records`).toHaveLength(
              1,
            );
            const record = list[0] as AnalyticsRecord;
            recordsById.set(o.requestId, record);
            for (const field of spec.fields) {
              const want = o[field];
              if (o.usageHidden && field.endsWith("_tokens")) {
                // The client could not see it (OpenAI stream without include_usage): the record still has it.
                expect(record[field], `${o.label}: ${field}`).toEqual(
                  expect.any(Number),
                );
                continue;
              }
              expect(record[field], `${o.label}: ${field}`).toEqual(want);
            }
          }
        });
      }
    });

    describe("Prometheus has the request, token and TTFT series for exactly those requests", () => {
      for (const c of cases) {
        if (!c.expected.metrics?.length) continue;
        it(`${c.file}: ${c.name}`, async () => {
          const seen = observed.get(c.file) ?? [];
          expect(seen.length, "the case's requests ran").toBe(
            c.requests.length,
          );
          for (const m of c.expected.metrics ?? []) {
            const promql = fill(m.promql, {
              chat_model: models.chat,
              embed_model: models.embed,
            });
            const want = expectedValue(m.equals, seen, (id) =>
              recordsById.get(id),
            );
            // Prometheus scrapes every 15 s: wait for a scrape after the requests.
            const got = await waitFor(
              async () => {
                const value = await instantValue(prometheusUrl, promql);
                return value === want ? value : undefined;
              },
              { timeoutMs: 45_000, intervalMs: 1000 },
            ).catch(() => instantValue(prometheusUrl, promql));
            expect(got, `${promql} (${m.equals})`).toBe(want);
          }
        });
      }
    });

    /** A native chat that Ollama answered, from Loki: its trace has Ollama's timing phases. */
    const chatRecordWithTrace = (): AnalyticsRecord => {
      const found = [...recordsById.values()].find(
        (record) =>
          typeof record.trace_id === "string" &&
          record.endpoint === "/api/chat" &&
          record.outcome === "ok" &&
          typeof record.eval_ms === "number",
      );
      expect(found, "a chat record with a trace_id").toBeDefined();
      expect(String(found!.trace_id)).toMatch(/^[0-9a-f]{32}$/);
      return found!;
    };
    /** Its span's name: the model asked for, which the client may have sent with or without ":latest". */
    const chatSpanName = (record: AnalyticsRecord) =>
      `chat ${String(record.model_requested ?? record.model).replace(/:latest$/, "")}`;

    describe("Tempo", () => {
      const tempoIt = it.skipIf(tempoSkip !== undefined);
      tempoIt(
        `has a chat's trace with Ollama's phases, by id and by TraceQL, and its record carries the same id${tempoSkip ? ` (${tempoSkip})` : ""}`,
        async () => {
          const withTrace = chatRecordWithTrace();
          const traceId = String(withTrace.trace_id);
          const tempoUrl = await stack.url("tempo");
          const trace = await waitFor(
            async () => {
              const response = await fetch(
                `${tempoUrl}/api/traces/${traceId}`,
                { headers: { Accept: "application/json" } },
              );
              return response.ok ? await response.text() : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 1000, message: "trace in Tempo" },
          );
          // Tempo's JSON carries span ids in base64: the record's span id, hex, is found by its bytes.
          const spanIdBase64 = Buffer.from(
            String(withTrace.span_id),
            "hex",
          ).toString("base64");
          expect(trace).toContain(spanIdBase64);
          expect(trace).toContain(String(withTrace.request_id));
          expect(trace).toContain(`"${chatSpanName(withTrace)}`);
          for (const phase of ["ollama prompt_eval", "ollama eval"])
            expect(trace, phase).toContain(`"${phase}"`);

          // Searchable by its attributes (TraceQL), as Grafana's Tempo search and the README's recipes use them.
          const q = `{span.ollama_proxy.request_id="${String(withTrace.request_id)}"}`;
          const found = await waitFor(
            async () => {
              const response = await fetch(
                `${tempoUrl}/api/search?q=${encodeURIComponent(q)}`,
              );
              if (!response.ok) return undefined;
              const body = (await response.json()) as {
                traces?: Array<{ traceID: string }>;
              };
              return body.traces?.length ? body.traces : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 1000, message: "TraceQL search" },
          );
          // Tempo drops the leading zeros of the ids it lists.
          expect(found.map((t) => t.traceID.padStart(32, "0"))).toEqual([
            traceId,
          ]);
        },
      );
      tempoIt(
        `is scraped by Prometheus, which sees the spans leave the proxy and reach Tempo${tempoSkip ? ` (${tempoSkip})` : ""}`,
        async () => {
          // What Proxy internals → Traces and the span alerts read. The proxy has exported spans by now (the
          // trace above is in Tempo); Prometheus sees both counters move at its next scrape of each side.
          // Drops are not asserted: spans exported before Tempo was ready may count as export_failed.
          const positive = (promql: string) =>
            waitFor(
              async () => {
                const value = await instantValue(prometheusUrl, promql);
                return value !== undefined && value > 0 ? value : undefined;
              },
              { timeoutMs: 60_000, intervalMs: 2000, message: promql },
            );
          expect(await positive('up{job="tempo"}')).toBe(1);
          await positive(
            'sum(tempo_distributor_spans_received_total{job="tempo"})',
          );
          await positive(
            'sum(ollama_proxy_trace_spans_exported_total{job="ollama-proxy"})',
          );
        },
      );
    });

    describe("Grafana", () => {
      let grafana: GrafanaClient;
      const dashboards = dashboardFiles(
        path.join(REPO_ROOT, "grafana/dashboards"),
      );
      const grafanaReady = async () => {
        if (grafana) return grafana;
        const env = (await stack.config()).services.grafana?.environment ?? {};
        grafana = createGrafanaClient(
          await stack.url("grafana"),
          env.GF_SECURITY_ADMIN_USER ?? "admin",
          // The password generated for this run (compose has no default): the only one that logs in.
          env.GF_SECURITY_ADMIN_PASSWORD ?? "",
        );
        return grafana;
      };

      it("every panel query of the overview and prompt-analytics dashboards resolves its variables", () => {
        for (const uid of DATA_DASHBOARDS) {
          const dashboard = dashboards.find((d) => d.uid === uid);
          expect(dashboard, `dashboard ${uid}`).toBeDefined();
          const queries = panelQueries(dashboard?.json ?? { uid, title: uid }, {
            request_id: "x",
          });
          expect(queries.length, uid).toBeGreaterThan(0);
          for (const q of queries)
            expect(q.expr, `${uid} / ${q.panel}`).not.toMatch(
              /\$(?!__)[a-z_]+|\[\[/i,
            );
        }
      });

      const grafanaIt = it.skipIf(grafanaSkip !== undefined);
      const skipNote = grafanaSkip ? ` (${grafanaSkip})` : "";

      for (const ds of ["prometheus", "loki"])
        grafanaIt(`datasource ${ds} is healthy${skipNote}`, async () => {
          const g = await grafanaReady();
          const health = await waitFor(
            async () => {
              const r = await g.get(`/api/datasources/uid/${ds}/health`);
              return r.status === 200 ? r : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 2000, message: `${ds} health` },
          );
          expect((health.body as { status?: string }).status).toBe("OK");
        });

      grafanaIt(
        `admin/admin never logs in; the generated password does${skipNote}`,
        async () => {
          const g = await grafanaReady();
          expect((await g.get("/api/user")).status).toBe(200);
          const guess = createGrafanaClient(
            await stack.url("grafana"),
            "admin",
            "admin",
          );
          expect((await guess.get("/api/user")).status).toBe(401);
        },
      );

      grafanaIt(
        `every provisioned dashboard is present${skipNote}`,
        async () => {
          const g = await grafanaReady();
          const { body } = await g.get("/api/search?type=dash-db&limit=5000");
          const uids = (body as { uid: string }[]).map((d) => d.uid);
          expect(uids).toEqual(
            expect.arrayContaining(dashboards.map((d) => d.uid)),
          );
        },
      );

      for (const uid of DATA_DASHBOARDS)
        grafanaIt(
          `every panel query of ${uid} returns data through /api/ds/query${skipNote}`,
          async () => {
            const g = await grafanaReady();
            const dashboard = dashboards.find((d) => d.uid === uid);
            const someId = [...recordsById.keys()][0] ?? "";
            const empty: string[] = [];
            for (const q of panelQueries(
              dashboard?.json ?? { uid, title: uid },
              {
                request_id: someId,
              },
            )) {
              if (GPU_ONLY.test(q.expr)) continue;
              const result = await g.query(q, startedAtMs - 60_000, Date.now());
              if (result.status !== 200 || result.rows === 0)
                empty.push(
                  `${q.panel} [${q.refId}] ${result.status} ${result.error ?? "no data"}: ${q.expr}`,
                );
            }
            expect(empty).toEqual([]);
          },
        );

      // Issue 14's one click, as Grafana makes it: from a record or an exemplar to the trace, through the
      // provisioned datasources (what Explore's trace view and the panels' exemplar links query).
      const tracesSkip = grafanaSkip ?? tempoSkip;
      const tracesIt = it.skipIf(tracesSkip !== undefined);
      const tracesNote = tracesSkip ? ` (${tracesSkip})` : "";
      /** The trace as Grafana's trace view loads it: the Tempo datasource's trace-by-id query. */
      const openTrace = async (g: GrafanaClient, traceId: string) =>
        waitFor(
          async () => {
            const { frames } = await g.frames(
              {
                refId: "A",
                datasource: { type: "tempo", uid: "tempo" },
                queryType: "traceId",
                query: traceId,
              },
              startedAtMs - 60_000,
              Date.now() + 60_000,
            );
            return frames.find((frame) => column(frame, "spanID")?.length);
          },
          {
            timeoutMs: 60_000,
            intervalMs: 2000,
            message: `trace ${traceId} through Grafana's Tempo datasource`,
          },
        );

      tracesIt(
        `a record's trace opens through Grafana's Tempo datasource, with Ollama's phases${tracesNote}`,
        async () => {
          const g = await grafanaReady();
          const record = chatRecordWithTrace();
          const trace = await openTrace(g, String(record.trace_id));
          // Grafana drops a zero upper half of the id only; ours are random.
          expect(
            new Set(
              column(trace, "traceID")?.map((id) =>
                String(id).padStart(32, "0"),
              ),
            ),
          ).toEqual(new Set([record.trace_id]));
          expect(column(trace, "spanID")).toContain(record.span_id);
          const names = column(trace, "operationName") ?? [];
          expect(names).toContain(chatSpanName(record));
          expect(names).toEqual(
            expect.arrayContaining(["ollama prompt_eval", "ollama eval"]),
          );
        },
      );

      tracesIt(
        `the TTFT panel's exemplars carry trace ids that Grafana's Tempo datasource opens${tracesNote}`,
        async () => {
          const g = await grafanaReady();
          const overview = dashboards.find((d) => d.uid === "ollama-overview");
          const withExemplars = panelQueries(
            overview?.json ?? { uid: "", title: "" },
          ).filter((q) => q.exemplar);
          expect(
            withExemplars.length,
            "panels that show exemplars",
          ).toBeGreaterThan(0);
          const ttft = withExemplars.find((q) =>
            q.expr.includes("ollama_time_to_first_token_seconds_bucket"),
          );
          expect(ttft, "the TTFT panel's exemplar query").toBeDefined();
          // Exemplars reach Prometheus with the scrapes after the requests: wait for one.
          const traceIds = await waitFor(
            async () => {
              const { frames } = await g.frames(
                {
                  refId: ttft!.refId,
                  datasource: ttft!.datasource,
                  expr: ttft!.expr,
                  range: true,
                  instant: false,
                  exemplar: true,
                  intervalMs: 15_000,
                  maxDataPoints: 500,
                },
                startedAtMs - 60_000,
                Date.now(),
              );
              const ids = frames.flatMap((frame) =>
                (column(frame, "trace_id") ?? []).map(String),
              );
              return ids.length > 0 ? ids : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 2000, message: "exemplars" },
          );
          for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);
          const trace = await openTrace(g, traceIds[0]!);
          expect(column(trace, "operationName")?.length).toBeGreaterThan(0);
        },
      );
    });

    describe("resilience: no record is lost", () => {
      async function expectAllRecorded(answered: Observed[]): Promise<void> {
        const ids = answered
          .filter((o) => o.status < 500)
          .map((o) => o.requestId);
        const byId = await waitFor(
          async () => {
            const found = await records.find(ids);
            return [...found.values()].every((r) => r.length > 0)
              ? found
              : undefined;
          },
          { timeoutMs: 120_000, intervalMs: 1000, message: "records" },
        ).catch(() => records.find(ids));
        const missing = ids.filter((id) => (byId.get(id) ?? []).length === 0);
        const duplicated = ids.filter((id) => (byId.get(id) ?? []).length > 1);
        expect({ missing, duplicated }).toEqual({
          missing: [],
          duplicated: [],
        });
      }

      it(
        `Loki stopped for ${LOKI_OUTAGE_MS / 1000} s under traffic, then started`,
        async () => {
          const traffic = startTraffic(proxyUrl, models);
          await waitFor(() => traffic.answered >= 5, { timeoutMs: 30_000 });
          await stack.compose(["stop", "loki"]);
          const stoppedAt = Date.now();
          const before = traffic.answered;
          // Evidence that the outage is real: records wait in the proxy's outbox (gauge refreshed every 5 s).
          const backlog = await waitFor(
            async () => {
              const text = await (await fetch(`${proxyUrl}/metrics`)).text();
              const depth = Number(
                /^ollama_proxy_outbox_depth(?:\{[^}]*\})? (\S+)$/m.exec(
                  text,
                )?.[1] ?? 0,
              );
              return depth > 0 ? depth : undefined;
            },
            { timeoutMs: LOKI_OUTAGE_MS - 2000, intervalMs: 1000 },
          ).catch(() => 0);
          await new Promise((resolve) =>
            setTimeout(
              resolve,
              Math.max(0, stoppedAt + LOKI_OUTAGE_MS - Date.now()),
            ),
          );
          const during = traffic.answered - before;
          await stack.compose(["start", "loki"]);
          await waitFor(async () => (await fetch(`${lokiUrl}/ready`)).ok, {
            timeoutMs: 120_000,
            intervalMs: 1000,
            message: "Loki ready again",
          });
          const after = traffic.answered;
          await waitFor(() => traffic.answered >= after + 5, {
            timeoutMs: 30_000,
          });
          const result = await traffic.stop();
          expect(
            during,
            "requests answered while Loki was down",
          ).toBeGreaterThan(0);
          expect(backlog, "outbox depth while Loki was down").toBeGreaterThan(
            0,
          );
          expect(result.unanswered, result.firstError).toBe(0);
          await expectAllRecorded(result.answered);
        },
        LOKI_OUTAGE_MS + 5 * 60_000,
      );

      it(
        "the proxy container restarted mid-traffic",
        async () => {
          const traffic = startTraffic(proxyUrl, models);
          await waitFor(() => traffic.answered >= 5, { timeoutMs: 30_000 });
          await stack.compose(["restart", "proxy"], 180_000);
          await waitFor(async () => (await fetch(`${proxyUrl}/readyz`)).ok, {
            timeoutMs: 120_000,
            intervalMs: 500,
            message: "proxy ready again",
          });
          const after = traffic.answered;
          await waitFor(() => traffic.answered >= after + 5, {
            timeoutMs: 30_000,
          });
          const result = await traffic.stop();
          // Requests refused while the proxy was down never reached it; every answered one must have a record.
          console.log(
            `proxy restart: ${result.answered.length} answered, ${result.unanswered} refused while it restarted`,
          );
          await expectAllRecorded(result.answered);
        },
        5 * 60_000,
      );
    });
  },
);

/** The text at the first syntax error of a LogQL query, or undefined when it parses. */
function logqlSyntaxError(query: string): string | undefined {
  let error: string | undefined;
  logqlParser.parse(query).iterate({
    enter: (node) => {
      if (node.type.isError && error === undefined)
        error = `at ${node.from}: ${query.slice(node.from, node.from + 20)}`;
    },
  });
  return error;
}

/** What a failing run prints: every service's state, and the logs of those not healthy (or the proxy's). */
async function printDiagnostics(stack: Stack): Promise<void> {
  try {
    const status = await stack.status();
    console.error(
      `stack state:\n${status.map((s) => `  ${s.service}: ${s.state} ${s.health}`).join("\n")}`,
    );
    const bad = status.filter(
      (s) => s.state !== "running" || (s.health && s.health !== "healthy"),
    );
    const services = bad.length ? bad.map((s) => s.service) : ["proxy", "loki"];
    for (const service of services)
      console.error(
        `--- logs of ${service} (last 200 lines) ---\n${await stack.serviceLogs(service)}`,
      );
  } catch (error) {
    console.error(`could not collect the stack's state: ${String(error)}`);
  }
}
