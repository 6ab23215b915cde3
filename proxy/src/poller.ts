// Polls Ollama's /api/version, /api/ps and /api/tags: upstream up/version gauges, loaded-model gauges, and the
// model allow-list behind the `model` label. Failures only flip ollama_upstream_up; they never throw.
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics/definitions.ts";
import type { ModelAllowList } from "./metrics/model-label.ts";
import { normalizeModel } from "./models/model-names.ts";

export interface PollerOptions {
  readonly ollamaUrl: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface Poller {
  /** Polls now; resolves when done. Concurrent calls share one poll. */
  pollNow(): Promise<void>;
  /** Re-reads /api/tags soon (debounced): after pull, create, copy or delete. */
  refreshModels(): void;
  /**
   * The model was loaded already at `atMs`: a poll of /api/ps that ended before then listed it, and every poll
   * since has. Ollama's load_duration for such a request is its queue wait, with no model load in it.
   */
  wasLoadedAt(model: string, atMs: number): boolean;
  close(): void;
}

interface PsModel {
  name?: string;
  model?: string;
  size?: number;
  size_vram?: number;
  expires_at?: string;
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

export function createPoller(
  options: PollerOptions,
  deps: { metrics: Metrics; models: ModelAllowList; logger: Logger },
): Poller {
  const { metrics } = deps;
  let running: Promise<void> | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let wasUp: boolean | undefined;
  let lastVersion: string | undefined;
  /** Loaded models (normalised) → end of the first poll of their current streak in /api/ps. */
  let loadedSince = new Map<string, number>();

  const pollTags = async () => {
    const tags = (await getJson(
      `${options.ollamaUrl}/api/tags`,
      options.timeoutMs,
    )) as { models?: PsModel[] };
    const names = (tags.models ?? [])
      .map((m) => m.name ?? m.model ?? "")
      .filter((n) => n !== "");
    deps.models.replace(names);
    metrics.modelsAvailable.set(names.length);
  };

  const pollPs = async () => {
    const ps = (await getJson(
      `${options.ollamaUrl}/api/ps`,
      options.timeoutMs,
    )) as { models?: PsModel[] };
    metrics.modelLoaded.reset();
    metrics.modelMemory.reset();
    metrics.modelExpiresAt.reset();
    const seenAt = Date.now();
    const streaks = new Map<string, number>();
    for (const loaded of ps.models ?? []) {
      const model = normalizeModel(loaded.name ?? loaded.model ?? "");
      if (model === "") continue;
      streaks.set(model, loadedSince.get(model) ?? seenAt);
      metrics.modelLoaded.set({ model }, 1);
      if (typeof loaded.size === "number")
        metrics.modelMemory.set({ model, kind: "total" }, loaded.size);
      if (typeof loaded.size_vram === "number")
        metrics.modelMemory.set({ model, kind: "vram" }, loaded.size_vram);
      const expires = loaded.expires_at ? Date.parse(loaded.expires_at) : NaN;
      if (Number.isFinite(expires))
        metrics.modelExpiresAt.set({ model }, expires / 1000);
    }
    loadedSince = streaks;
  };

  const poll = async () => {
    try {
      const { version } = (await getJson(
        `${options.ollamaUrl}/api/version`,
        options.timeoutMs,
      )) as {
        version?: string;
      };
      metrics.upstreamUp.set(1);
      if (version !== lastVersion) {
        metrics.upstreamInfo.reset();
        lastVersion = version;
      }
      metrics.upstreamInfo.set({ version: version ?? "unknown" }, 1);
      await Promise.all([pollTags(), pollPs()]);
      if (wasUp !== true)
        deps.logger.info(
          { ollama_url: options.ollamaUrl, version },
          "ollama is reachable",
        );
      wasUp = true;
    } catch (error) {
      metrics.upstreamUp.set(0);
      if (wasUp !== false) {
        deps.logger.warn(
          { ollama_url: options.ollamaUrl, err: String(error) },
          "ollama is not reachable",
        );
      }
      wasUp = false;
    }
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
          deps.logger.debug({ err: String(error) }, "model refresh failed"),
        );
      }, 250);
      refreshTimer.unref();
    },
    wasLoadedAt(model, atMs) {
      const since = loadedSince.get(model);
      return since !== undefined && since <= atMs;
    },
    close() {
      clearInterval(timer);
      if (refreshTimer) clearTimeout(refreshTimer);
    },
  };
}
