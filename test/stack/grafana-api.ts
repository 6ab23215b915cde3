// Grafana's HTTP API as the stack test uses it: datasource health, provisioned dashboards, and every panel query
// of a dashboard run through /api/ds/query (the endpoint the dashboards themselves use), with the dashboard's
// variables set to "All" (query variables) or to a given value (text boxes).
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

export interface DashboardFile {
  file: string;
  uid: string;
  title: string;
  json: Dashboard;
}

interface Variable {
  name: string;
  type: string;
  query?: unknown;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: unknown };
}

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
  instant?: boolean;
  range?: boolean;
  queryType?: string;
  hide?: boolean;
  exemplar?: boolean;
}

interface Panel {
  title?: string;
  type?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: Target[];
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels?: Panel[];
  templating?: { list?: Variable[] };
}

export interface PanelQuery {
  panel: string;
  refId: string;
  datasource: { type: string; uid: string };
  expr: string;
  instant: boolean;
  /** The panel shows the series' exemplars (trace ids). */
  exemplar: boolean;
}

/** Every dashboard JSON under grafana/dashboards (the provisioned folder). */
export function dashboardFiles(dir: string): DashboardFile[] {
  const out: DashboardFile[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...dashboardFiles(full));
    else if (name.endsWith(".json")) {
      const json = JSON.parse(readFileSync(full, "utf8")) as Dashboard;
      out.push({ file: full, uid: json.uid, title: json.title, json });
    }
  }
  return out;
}

/** The value a variable takes in the test: "All" for query variables, `textValues[name]` or the default else. */
function variableValue(
  variable: Variable,
  textValues: Readonly<Record<string, string>>,
): string {
  if (variable.name in textValues) return textValues[variable.name] ?? "";
  if (variable.includeAll) return variable.allValue ?? ".*";
  const current = variable.current?.value;
  if (typeof current === "string") return current;
  if (Array.isArray(current) && typeof current[0] === "string")
    return current[0];
  return typeof variable.query === "string" ? variable.query : "";
}

/** Replaces $name, ${name}, ${name:format} and [[name]] of the dashboard's variables (Grafana's $__ macros stay). */
export function interpolate(
  expr: string,
  variables: readonly Variable[],
  textValues: Readonly<Record<string, string>>,
): string {
  let out = expr;
  const byLength = [...variables].sort((a, b) => b.name.length - a.name.length);
  for (const variable of byLength) {
    const value = variableValue(variable, textValues);
    const name = variable.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out
      .replace(new RegExp(`\\$\\{${name}(?::[^}]*)?\\}`, "g"), () => value)
      .replace(new RegExp(`\\[\\[${name}\\]\\]`, "g"), () => value)
      .replace(new RegExp(`\\$${name}\\b`, "g"), () => value);
  }
  return out;
}

/** Every visible query of every panel (rows included), variables interpolated. */
export function panelQueries(
  dashboard: Dashboard,
  textValues: Readonly<Record<string, string>> = {},
): PanelQuery[] {
  const variables = dashboard.templating?.list ?? [];
  const out: PanelQuery[] = [];
  const walk = (panels: readonly Panel[]) => {
    for (const panel of panels) {
      if (panel.panels) walk(panel.panels);
      for (const target of panel.targets ?? []) {
        if (target.hide || !target.expr) continue;
        const ds = target.datasource ?? panel.datasource ?? undefined;
        if (!ds?.uid || !ds.type) continue;
        out.push({
          panel: panel.title ?? "(untitled)",
          refId: target.refId ?? "A",
          datasource: { type: ds.type, uid: ds.uid },
          expr: interpolate(target.expr, variables, textValues),
          instant: target.instant === true || target.queryType === "instant",
          exemplar: target.exemplar === true,
        });
      }
    }
  };
  walk(dashboard.panels ?? []);
  return out;
}

/** A data frame as /api/ds/query returns it: named fields, one array of values per field. */
export interface Frame {
  schema?: { name?: string; fields?: { name: string }[] };
  data?: { values?: unknown[][] };
}

/** The values of `frame`'s field `name`, or undefined when it has no such field. */
export function column(frame: Frame, name: string): unknown[] | undefined {
  const index = frame.schema?.fields?.findIndex((f) => f.name === name) ?? -1;
  return index < 0 ? undefined : (frame.data?.values?.[index] ?? []);
}

export interface GrafanaClient {
  get(pathAndQuery: string): Promise<{ status: number; body: unknown }>;
  /** Runs one panel query; `rows` counts the values of its frames (0: no data). */
  query(
    q: PanelQuery,
    fromMs: number,
    toMs: number,
  ): Promise<{ status: number; rows: number; error?: string }>;
  /** Runs one query object of a datasource through /api/ds/query, as Grafana's panels and Explore send it. */
  frames(
    query: {
      refId: string;
      datasource: { type: string; uid: string };
    } & Record<string, unknown>,
    fromMs: number,
    toMs: number,
  ): Promise<{ status: number; frames: Frame[]; error?: string }>;
}

interface DsQueryAnswer {
  results?: Record<
    string,
    {
      status?: number;
      error?: string;
      frames?: Frame[];
    }
  >;
  message?: string;
}

export function createGrafanaClient(
  url: string,
  user: string,
  password: string,
): GrafanaClient {
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const frames: GrafanaClient["frames"] = async (query, fromMs, toMs) => {
    const response = await fetch(`${url}/api/ds/query`, {
      method: "POST",
      headers: { Authorization: auth, "Content-Type": "application/json" },
      body: JSON.stringify({
        from: String(fromMs),
        to: String(toMs),
        queries: [query],
      }),
      signal: AbortSignal.timeout(60_000),
    });
    const answer = (await response.json()) as DsQueryAnswer;
    const result = answer.results?.[query.refId];
    return {
      status: response.status,
      frames: result?.frames ?? [],
      error: result?.error ?? answer.message,
    };
  };
  return {
    async get(pathAndQuery) {
      const response = await fetch(`${url}${pathAndQuery}`, {
        headers: { Authorization: auth },
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // keep the text
      }
      return { status: response.status, body };
    },
    async query(q, fromMs, toMs) {
      const query =
        q.datasource.type === "loki"
          ? { queryType: q.instant ? "instant" : "range", maxLines: 1000 }
          : { instant: q.instant, range: !q.instant, exemplar: q.exemplar };
      const result = await frames(
        {
          refId: q.refId,
          datasource: q.datasource,
          expr: q.expr,
          intervalMs: 15_000,
          maxDataPoints: 500,
          ...query,
        },
        fromMs,
        toMs,
      );
      const rows = result.frames.reduce(
        (n, frame) =>
          n + Math.max(0, ...(frame.data?.values ?? []).map((v) => v.length)),
        0,
      );
      return { status: result.status, rows, error: result.error };
    },
    frames,
  };
}
