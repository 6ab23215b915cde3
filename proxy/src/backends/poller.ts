// Polls one backend's /api/version, /api/ps and /api/tags: its up/version gauges, its loaded models and their
// memory, and what routing knows of it (installed and loaded models, up or down). Failures only mark the
// backend down; they never throw. A backend answering garbage counts as down, named in the log.
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { normalizeModel } from "../models/model-names.ts";
import { reportPoll, type BackendState } from "./health.ts";

export interface PollerOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface Poller {
  /** Polls now; resolves when done. Concurrent calls share one poll. */
  pollNow(): Promise<void>;
  /** Re-reads /api/tags soon (debounced): after pull, create, copy or delete. */
  refreshModels(): void;
  close(): void;
}

interface ListedModel {
  name?: unknown;
  model?: unknown;
  size?: unknown;
  size_vram?: unknown;
  expires_at?: unknown;
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

/** The `models` array of a /api/tags or /api/ps answer; anything else is a broken backend. */
function modelsOf(body: unknown, route: string): ListedModel[] {
  const models = (body as { models?: unknown } | null)?.models;
  if (models === undefined || models === null) return [];
  if (!Array.isArray(models))
    throw new Error(`${route} answered without a models list`);
  return models.filter(
    (m): m is ListedModel => typeof m === "object" && m !== null,
  );
}

function nameOf(listed: ListedModel): string {
  const name = typeof listed.name === "string" ? listed.name : listed.model;
  return typeof name === "string" ? normalizeModel(name) : "";
}

export function createPoller(
  state: BackendState,
  options: PollerOptions,
  deps: {
    metrics: Metrics;
    logger: Logger;
    /** The backend's installed models changed (the pool merges every backend's into the model label list). */
    onModels: () => void;
    /** The backend's health as routing sees it may have changed. */
    onHealth: () => void;
  },
): Poller {
  const { metrics } = deps;
  const { name: backend, url } = state.spec;
  let running: Promise<void> | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let lastVersion: string | undefined;
  /** The loaded models' label sets written by the last poll, removed when a model is unloaded. */
  let written: string[] = [];
  /** The same for installed models, removed when a model is deleted. */
  let installed: string[] = [];

  const pollTags = async () => {
    const tags = await getJson(`${url}/api/tags`, options.timeoutMs);
    const names = modelsOf(tags, "/api/tags")
      .map(nameOf)
      .filter((n) => n !== "");
    state.models = new Set(names.map((n) => n.toLowerCase()));
    state.modelNames = names;
    metrics.modelsAvailable.set({ backend }, names.length);
    for (const model of installed)
      metrics.modelInstalled.remove({ model, backend });
    for (const model of names)
      metrics.modelInstalled.set({ model, backend }, 1);
    installed = names;
    deps.onModels();
  };

  const pollPs = async () => {
    const listed = modelsOf(
      await getJson(`${url}/api/ps`, options.timeoutMs),
      "/api/ps",
    );
    for (const model of written) {
      metrics.modelLoaded.remove({ model, backend });
      metrics.modelMemory.remove({ model, kind: "total", backend });
      metrics.modelMemory.remove({ model, kind: "vram", backend });
      metrics.modelExpiresAt.remove({ model, backend });
    }
    const seenAt = Date.now();
    const streaks = new Map<string, number>();
    const now: string[] = [];
    for (const loaded of listed) {
      const model = nameOf(loaded);
      if (model === "") continue;
      const key = model.toLowerCase();
      streaks.set(key, state.loadedSince.get(key) ?? seenAt);
      now.push(model);
      metrics.modelLoaded.set({ model, backend }, 1);
      if (typeof loaded.size === "number")
        metrics.modelMemory.set({ model, kind: "total", backend }, loaded.size);
      if (typeof loaded.size_vram === "number")
        metrics.modelMemory.set(
          { model, kind: "vram", backend },
          loaded.size_vram,
        );
      const expires =
        typeof loaded.expires_at === "string"
          ? Date.parse(loaded.expires_at)
          : NaN;
      if (Number.isFinite(expires))
        metrics.modelExpiresAt.set({ model, backend }, expires / 1000);
    }
    written = now;
    state.loadedSince = streaks;
    state.revealed.clear();
  };

  const poll = async () => {
    const wasUp = state.up;
    try {
      const answer = (await getJson(
        `${url}/api/version`,
        options.timeoutMs,
      )) as { version?: unknown } | null;
      const version =
        typeof answer?.version === "string" ? answer.version : "unknown";
      await Promise.all([pollTags(), pollPs()]);
      metrics.upstreamUp.set({ backend }, 1);
      if (version !== lastVersion) {
        if (lastVersion !== undefined)
          metrics.upstreamInfo.remove({ version: lastVersion, backend });
        lastVersion = version;
      }
      metrics.upstreamInfo.set({ version, backend }, 1);
      state.version = version;
      reportPoll(state, true);
      if (wasUp !== true)
        deps.logger.info(
          { backend, ollama_url: url, version },
          "ollama is reachable",
        );
    } catch (error) {
      metrics.upstreamUp.set({ backend }, 0);
      reportPoll(state, false);
      if (wasUp !== false) {
        deps.logger.warn(
          { backend, ollama_url: url, err: String(error) },
          "ollama is not reachable",
        );
      }
    }
    deps.onHealth();
  };

  const pollNow = () => {
    running ??= poll().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void pollNow(), options.intervalMs);
  timer.unref();
  void pollNow();

  return {
    pollNow,
    refreshModels() {
      if (refreshTimer) return;
      refreshTimer = setTimeout(() => {
        refreshTimer = undefined;
        pollTags().catch((error: unknown) =>
          deps.logger.debug(
            { backend, err: String(error) },
            "model refresh failed",
          ),
        );
      }, 250);
      refreshTimer.unref();
    },
    close() {
      clearInterval(timer);
      if (refreshTimer) clearTimeout(refreshTimer);
    },
  };
}
