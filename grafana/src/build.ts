// Writes the provisioned dashboards: grafana/dashboards/<Folder>/<file>.json (the folder becomes the Grafana
// folder, foldersFromFilesStructure). Output is deterministic: fixed uids, `id: null`, panel ids and query
// refIds numbered in order, 2-space JSON with a final newline. test/config/dashboards.test.ts regenerates it
// into a temporary directory and fails on any difference with the committed files.
//   node grafana/src/build.ts [--out <dir>]     (default: grafana/dashboards; `make dashboards`)
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Dashboard } from "@grafana/grafana-foundation-sdk/dashboard";
import { overviewDashboard } from "./overview.ts";
import { promptAnalyticsDashboard } from "./prompt-analytics.ts";
import { proxyInternalsDashboard } from "./proxy-internals.ts";

export const FOLDER = "Ollama";

/** Relative path under grafana/dashboards → dashboard. compose.yaml's home dashboard is Ollama/overview.json. */
export const DASHBOARDS: Record<string, () => Dashboard> = {
  [`${FOLDER}/overview.json`]: overviewDashboard,
  [`${FOLDER}/prompt-analytics.json`]: promptAnalyticsDashboard,
  [`${FOLDER}/proxy-internals.json`]: proxyInternalsDashboard,
};

interface PanelLike {
  id?: number;
  panels?: PanelLike[];
  targets?: { refId?: string }[];
}

/** Numbers panels (rows and their children included) and fills in missing refIds, in document order. */
function normalise(dashboard: Dashboard): Dashboard {
  let nextId = 1;
  const visit = (panels: PanelLike[] | undefined): void => {
    for (const panel of panels ?? []) {
      panel.id = nextId++;
      (panel.targets ?? []).forEach((target, index) => {
        target.refId ??= String.fromCharCode(65 + index);
      });
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return { ...dashboard, id: null };
}

/** Every dashboard file as it is committed: relative path → JSON text. */
export function renderDashboards(): Map<string, string> {
  const files = new Map<string, string>();
  for (const [path, build] of Object.entries(DASHBOARDS)) {
    files.set(path, `${JSON.stringify(normalise(build()), null, 2)}\n`);
  }
  return files;
}

export function writeDashboards(outDir: string): string[] {
  const written: string[] = [];
  for (const [path, json] of renderDashboards()) {
    const file = join(outDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, json);
    written.push(file);
  }
  return written;
}

if (
  process.argv[1] &&
  resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  const outDir =
    values.out ?? fileURLToPath(new URL("../dashboards", import.meta.url));
  for (const file of writeDashboards(outDir)) console.log(`wrote ${file}`);
}
