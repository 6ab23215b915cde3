// runTraffic: prompt set + model discovery + workload + scheduler + execution → Summary. The CLI (main.ts) and
// the integration test both call it; it prints nothing itself.
import { randomBytes } from "node:crypto";
import { Ollama } from "ollama";
import { categorizePrompt } from "../../proxy/src/records/category.ts";
import type { TrafficOptions } from "./args.ts";
import { executeRequest } from "./execute.ts";
import { discoverModels } from "./models.ts";
import { loadPromptSet } from "./prompt-set.ts";
import { runSchedule } from "./scheduler.ts";
import type { Clock } from "./scheduler.ts";
import { summarize } from "./stats.ts";
import type { Summary } from "./stats.ts";
import type { RequestResult } from "./types.ts";
import { createWorkload } from "./workload.ts";
import type { ModelSet } from "./workload.ts";

export interface Progress {
  elapsedMs: number;
  done: number;
  errors: number;
  inFlight: number;
  /** Planned total when bounded by count. */
  total: number | undefined;
  durationMs: number | undefined;
}

export interface RunHooks {
  /** Ctrl-C: stop starting requests, cut in-flight ones short, and still summarise. */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  progressIntervalMs?: number;
  /** Called once the models are known, before the first request. */
  onStart?: (models: ModelSet) => void;
  clock?: Clock;
  /** Prefix for X-Request-Id; random by default. */
  runId?: string;
}

/** Setup failed before any request was sent (server unreachable, no models, bad prompt set). */
export class TrafficSetupError extends Error {
  override name = "TrafficSetupError";
}

export interface TrafficRun {
  summary: Summary;
  models: ModelSet;
  results: RequestResult[];
}

export async function runTraffic(
  options: TrafficOptions,
  hooks: RunHooks = {},
): Promise<TrafficRun> {
  const prompts = loadPromptSet(options.promptsDir);
  const models = await findModels(options);
  hooks.onStart?.(models);
  const workload = createWorkload({
    mode: options.mode,
    seed: options.seed,
    prompts,
    models,
    clientHeaders: options.clientHeaders,
    maxTokens: options.maxTokens,
    faults: options.faults,
    requests: options.requests,
    runId: hooks.runId ?? randomBytes(4).toString("hex"),
  });

  const { clock } = hooks;
  const now = clock ? () => clock.now() : () => performance.now();
  const start = now();
  const results: RequestResult[] = [];
  let inFlight = 0;
  let errors = 0;
  const report = (): void =>
    hooks.onProgress?.({
      elapsedMs: now() - start,
      done: results.length,
      errors,
      inFlight,
      total: options.requests,
      durationMs: options.durationMs,
    });
  const ticker = hooks.onProgress
    ? setInterval(report, hooks.progressIntervalMs ?? 250)
    : undefined;
  try {
    await runSchedule(
      {
        concurrency: options.concurrency,
        ratePerSecond: options.ratePerSecond,
        maxRequests: options.requests,
        durationMs: options.durationMs,
        signal: hooks.signal,
        clock: hooks.clock,
      },
      async (index) => {
        inFlight++;
        try {
          const result = await executeRequest(workload.plan(index), {
            url: options.url,
            timeoutMs: options.timeoutMs,
            signal: hooks.signal,
            categorize: categorizePrompt,
            now,
          });
          results.push(result);
          if (result.outcome === "error") errors++;
        } finally {
          inFlight--;
        }
      },
    );
  } finally {
    if (ticker) clearInterval(ticker);
  }
  report();
  results.sort((a, b) => a.index - b.index);
  const summary = summarize(results, {
    url: options.url,
    mode: options.mode,
    seed: options.seed,
    elapsedMs: now() - start,
  });
  return { summary, models, results };
}

async function findModels(options: TrafficOptions): Promise<ModelSet> {
  const client = new Ollama({ host: options.url });
  let models: ModelSet;
  try {
    models = await discoverModels(client, options.models);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TrafficSetupError(
      `cannot list models at ${options.url} (GET /api/tags): ${reason}. Is the proxy running? (make up, or --url)`,
    );
  }
  if (models.chat.length === 0 && models.embedding.length === 0) {
    throw new TrafficSetupError(
      `no models at ${options.url}: pull one first (make pull-model MODEL=llama3.2) or name them with --models`,
    );
  }
  return models;
}
