// The provisioned dashboards: the committed JSON is exactly what grafana/src/build.ts generates (regenerated
// into a temporary directory), every datasource a panel or variable uses is provisioned, and the dashboards
// follow the rules file provisioning needs and a demanding Grafana user expects (fixed uids, id null, no
// __inputs, units, descriptions, variables, a non-overlapping grid).
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  dashboardFiles,
  datasourceOf,
  panelsOf,
  readDashboard,
  variablesOf,
} from "./queries.ts";
import {
  asDict,
  asList,
  asString,
  isDict,
  readText,
  readYaml,
  run,
} from "./repo-files.ts";

const EXPECTED = [
  "grafana/dashboards/Ollama/overview.json",
  "grafana/dashboards/Ollama/prompt-analytics.json",
  "grafana/dashboards/Ollama/proxy-internals.json",
];

/** The provisioned datasources by uid: their type and the name Grafana shows (and internal links carry). */
function provisionedDatasources(): Map<string, { type: string; name: string }> {
  const file = "grafana/provisioning/datasources/datasources.yaml";
  return new Map(
    asList(asDict(readYaml(file), file).datasources)
      .filter(isDict)
      .map((ds) => [
        asString(ds.uid) ?? "",
        { type: asString(ds.type) ?? "", name: asString(ds.name) ?? "" },
      ]),
  );
}

describe("generated dashboards", () => {
  const out = mkdtempSync(join(tmpdir(), "dashboards-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("the committed JSON equals grafana/src/build.ts's output (run `make dashboards` after a change)", () => {
    const { status, output } = run(process.execPath, [
      "grafana/src/build.ts",
      "--out",
      out,
    ]);
    expect(status, output).toBe(0);
    const regenerated = readdirSync(out, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".json"))
      .map((f) => `grafana/dashboards/${f}`)
      .sort();
    expect(regenerated).toEqual(EXPECTED);
    expect(dashboardFiles(), "committed files").toEqual(EXPECTED);
    for (const file of EXPECTED) {
      const fresh = readFileSync(
        join(out, file.replace("grafana/dashboards/", "")),
        "utf8",
      );
      const committed = readText(file);
      const a = committed.split("\n");
      const b = fresh.split("\n");
      const line = a.findIndex((l, i) => l !== b[i]);
      expect(
        committed === fresh,
        `${file} differs from the generator's output at line ${line + 1}:\n  committed: ${a[line]}\n  generated: ${b[line]}`,
      ).toBe(true);
    }
  });

  it("the generator is deterministic (two runs, same bytes)", () => {
    const again = mkdtempSync(join(tmpdir(), "dashboards-"));
    try {
      expect(
        run(process.execPath, ["grafana/src/build.ts", "--out", again]).status,
      ).toBe(0);
      for (const rel of EXPECTED.map((f) =>
        f.replace("grafana/dashboards/", ""),
      )) {
        expect(readFileSync(join(again, rel), "utf8")).toBe(
          readFileSync(join(out, rel), "utf8"),
        );
      }
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});

describe.each(EXPECTED)("%s", (file) => {
  const dashboard = readDashboard(file);
  const panels = panelsOf(dashboard);
  const content = panels.filter((p) => p.type !== "row");
  const datasources = provisionedDatasources();

  it("has a fixed uid, id null, a title, and no __inputs placeholders", () => {
    expect(asString(dashboard.uid)).toMatch(/^[a-z0-9-]{8,40}$/);
    expect(dashboard.id).toBeNull();
    expect(asString(dashboard.title)).toBeTruthy();
    expect(dashboard).not.toHaveProperty("__inputs");
    expect(JSON.stringify(dashboard)).not.toMatch(/\$\{DS_/);
  });

  it("references only provisioned datasources, by uid, with the right type", () => {
    const refs: { where: string; ds: ReturnType<typeof datasourceOf> }[] = [];
    for (const panel of content) {
      refs.push({
        where: `panel "${asString(panel.title)}"`,
        ds: datasourceOf(panel.datasource),
      });
      for (const target of asList(panel.targets).filter(isDict)) {
        refs.push({
          where: `panel "${asString(panel.title)}" ${asString(target.refId)}`,
          ds: datasourceOf(target.datasource, panel.datasource),
        });
      }
    }
    for (const variable of variablesOf(dashboard).filter(
      (v) => v.type === "query",
    )) {
      refs.push({
        where: `variable ${asString(variable.name)}`,
        ds: datasourceOf(variable.datasource),
      });
    }
    for (const { where, ds } of refs) {
      expect(ds?.uid, `${where}: datasource by uid`).toBeDefined();
      expect(
        datasources.has(ds?.uid ?? ""),
        `${where}: uid ${ds?.uid} is not provisioned`,
      ).toBe(true);
      expect(ds?.type, where).toBe(datasources.get(ds?.uid ?? "")?.type);
    }
  });

  it("data links lead somewhere provisioned: a datasource by uid and name, or a dashboard by uid", () => {
    const dashboardUids = new Set(EXPECTED.map((f) => readDashboard(f).uid));
    const links = content.flatMap((panel) =>
      asList(asDict(panel.fieldConfig ?? {}, "fieldConfig").overrides)
        .filter(isDict)
        .flatMap((override) => asList(override.properties).filter(isDict))
        .filter((property) => property.id === "links")
        .flatMap((property) => asList(property.value).filter(isDict))
        .map((link) => ({ panel: asString(panel.title), link })),
    );
    for (const { panel, link } of links) {
      const where = `panel "${panel}", link "${asString(link.title)}"`;
      if (isDict(link.internal)) {
        const uid = asString(link.internal.datasourceUid) ?? "";
        expect(datasources.has(uid), `${where}: uid ${uid}`).toBe(true);
        expect(link.internal.datasourceName, where).toBe(
          datasources.get(uid)?.name,
        );
        expect(asDict(link.internal.query, where).query, where).toBe(
          "${__value.raw}",
        );
      } else {
        const url = asString(link.url) ?? "";
        const target = /^\/d\/([^/?]+)/.exec(url)?.[1];
        expect(dashboardUids.has(target ?? ""), `${where}: ${url}`).toBe(true);
      }
    }
  });

  it("numbers panels uniquely and gives every query a refId", () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of content) {
      const refIds = asList(panel.targets)
        .filter(isDict)
        .map((t) => asString(t.refId));
      expect(refIds.every(Boolean), asString(panel.title)).toBe(true);
      expect(new Set(refIds).size, asString(panel.title)).toBe(refIds.length);
    }
  });

  it("gives every panel a title, a description, a unit (or a logs view) and at least one query", () => {
    for (const panel of content) {
      const title = asString(panel.title) ?? "";
      expect(title, "title").toBeTruthy();
      expect(
        asString(panel.description)?.length ?? 0,
        `"${title}" description`,
      ).toBeGreaterThan(20);
      expect(
        asList(panel.targets).length,
        `"${title}" queries`,
      ).toBeGreaterThan(0);
      if (panel.type !== "logs") {
        const defaults = asDict(
          asDict(panel.fieldConfig, title).defaults,
          title,
        );
        expect(asString(defaults.unit), `"${title}" unit`).toBeTruthy();
      }
    }
  });

  it("groups panels in rows, on a 24-column grid without overlaps", () => {
    expect(panels[0]?.type).toBe("row");
    const cells = new Map<string, string>();
    for (const panel of panels) {
      const title = asString(panel.title) ?? "";
      const grid = asDict(panel.gridPos, `${title} gridPos`);
      const [x, y, w, h] = [grid.x, grid.y, grid.w, grid.h].map(Number) as [
        number,
        number,
        number,
        number,
      ];
      expect(x + w, `${title} fits in 24 columns`).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const taken = cells.get(`${i},${j}`);
          expect(taken, `${title} overlaps ${taken}`).toBeUndefined();
          cells.set(`${i},${j}`, title);
        }
      }
    }
  });

  it("uses $__rate_interval for Prometheus rates on time series (and $__range on whole-range stats)", () => {
    for (const panel of content) {
      for (const target of asList(panel.targets).filter(isDict)) {
        const expr = asString(target.expr) ?? "";
        if (
          datasourceOf(target.datasource, panel.datasource)?.type !==
          "prometheus"
        )
          continue;
        for (const [, window] of expr.matchAll(/\[([^\]]+)\]/g)) {
          const allowed =
            target.instant === true ? "$__range" : "$__rate_interval";
          expect(window, `${asString(panel.title)}: ${expr}`).toBe(allowed);
        }
      }
    }
  });
});

describe("dashboard variables", () => {
  const variables = (file: string) =>
    new Map(
      variablesOf(readDashboard(file)).map((v) => [asString(v.name) ?? "", v]),
    );

  it("the overview filters by instance and model from Prometheus label values", () => {
    const vars = variables(EXPECTED[0]!);
    expect(asString(vars.get("instance")?.query)).toMatch(
      /^label_values\(.+, instance\)$/,
    );
    expect(asString(vars.get("model")?.query)).toMatch(
      /^label_values\(ollama_requests_total.*, model\)$/,
    );
    for (const v of vars.values()) {
      expect(v.includeAll, asString(v.name)).toBe(true);
      expect(v.allValue, asString(v.name)).toBe(".*");
    }
  });

  it("prompt analytics has the model list, a prompt search text box and a request id", () => {
    const vars = variables(EXPECTED[1]!);
    expect(asString(vars.get("model")?.query)).toBe(
      "label_values(ollama_requests_total, model)",
    );
    expect(vars.get("search")?.type).toBe("textbox");
    expect(vars.get("request_id")?.type).toBe("textbox");
  });

  it("proxy internals filters by instance", () => {
    expect(variables(EXPECTED[2]!).has("instance")).toBe(true);
  });
});

describe("Grafana provisioning", () => {
  it("provisions Prometheus and Loki with fixed uids", () => {
    const ds = provisionedDatasources();
    expect(ds.get("prometheus")?.type).toBe("prometheus");
    expect(ds.get("loki")?.type).toBe("loki");
  });

  it("the dashboard provider reads the folder compose.yaml mounts, folders from files", () => {
    const file = "grafana/provisioning/dashboards/dashboards.yaml";
    const providers = asList(asDict(readYaml(file), file).providers).filter(
      isDict,
    );
    expect(providers).toHaveLength(1);
    const options = asDict(providers[0]!.options, "options");
    expect(options.foldersFromFilesStructure).toBe(true);
    expect(providers[0]).not.toHaveProperty("folder");
    const compose = asDict(readYaml("compose.yaml"), "compose.yaml");
    const grafana = asDict(
      asDict(compose.services, "services").grafana,
      "grafana",
    );
    const mounts = asList(grafana.volumes).map(String);
    expect(mounts).toContain(
      `./grafana/dashboards:${asString(options.path)}:ro`,
    );
    expect(mounts).toContain(
      "./grafana/provisioning:/etc/grafana/provisioning:ro",
    );
  });

  it("the home dashboard is the overview, at the path Grafana sees", () => {
    const compose = asDict(readYaml("compose.yaml"), "compose.yaml");
    const env = asDict(
      asDict(asDict(compose.services, "services").grafana, "grafana")
        .environment,
      "env",
    );
    const home = asString(env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH) ?? "";
    expect(
      home.replace("/etc/grafana/dashboards/", "grafana/dashboards/"),
    ).toBe(EXPECTED[0]);
    expect(readDashboard(EXPECTED[0]!).uid).toBe("ollama-overview");
  });
});
