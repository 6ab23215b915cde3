// The four scenarios of a benchmark run, each measured through every target with repetitions interleaved and
// the order rotating; bench/run.ts starts the stack and hands each the context below.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type {
  LargeFigures,
  LargeResult,
  PacedFigures,
  PacedResult,
  PerTarget,
  SmallFigures,
  SmallResult,
  StreamFigures,
  StreamResult,
} from "./figures.ts";
import type { Usage } from "./processes.ts";
import {
  BENCH_MODELS,
  chatBody,
  generateBody,
  imageBody,
  type Plan,
} from "./scenarios.ts";
import { summarize, type Summary } from "./stats.ts";
import { tracingPairs } from "./tracing-pairs.ts";
import type { Job, SequentialResult, StreamsResult } from "./stream-client.ts";
import type { Stack, Target, TargetName } from "./targets.ts";
import type { WrkAgainst, WrkResult } from "./wrk.ts";

export interface RunContext {
  readonly plan: Plan;
  readonly stack: Stack;
  readonly log: (line: string) => void;
  /** A temporary directory for request bodies. */
  readonly work: string;
  /** CPUs for the load generators (taskset), when pinned. */
  readonly loadCpus: string | undefined;
  readonly measure: <T>(
    target: Target,
    fn: () => Promise<T>,
  ) => Promise<Measured<T>>;
  readonly wrk: WrkAgainst;
}

const CLIENT = fileURLToPath(new URL("./stream-client.ts", import.meta.url));

export interface Measured<T> {
  readonly result: T;
  readonly target: Usage;
  readonly upstream: Usage;
  /** wrk or the stream client. */
  readonly loadCpuPercent: number;
  readonly otherCpuPercent: number;
}

/** Runs the stream client in its own process and returns its JSON answer. */
export function runClient<T>(job: Job, cpus: string | undefined): Promise<T> {
  const args = [CLIENT, JSON.stringify(job)];
  const argv = cpus
    ? ["taskset", ["-c", cpus, process.execPath, ...args]]
    : [process.execPath, args];
  const child = spawn(argv[0] as string, argv[1] as string[], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (data: Buffer) => (out += data.toString()));
  child.stderr.on("data", (data: Buffer) => (err += data.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) reject(new Error(`stream client failed: ${err}`));
      else resolve(JSON.parse(out) as T);
    });
  });
}

export function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  return items.map((_, i) => items[(i + by) % n] as T);
}

export function pick<T>(
  values: readonly T[],
  get: (value: T) => number,
): Summary {
  return summarize(values.map(get));
}

/** Per repetition: this target's figure minus direct's in the same repetition. */
export function added(
  mine: readonly number[],
  direct: readonly number[] | undefined,
): Summary {
  if (!direct) return summarize([]);
  return summarize(mine.map((value, i) => value - (direct[i] ?? Number.NaN)));
}

export async function runSmall(ctx: RunContext): Promise<SmallResult[]> {
  const { plan, stack, log, work, wrk, measure } = ctx;
  const small: SmallResult[] = [];
  const generateFile = join(work, "generate.json");
  await writeFile(generateFile, generateBody(plan.small.replyTokens));
  const endpoints = [
    { endpoint: "/api/tags", method: "GET", bodyFile: undefined },
    {
      endpoint: "/api/generate",
      method: "POST",
      bodyFile: generateFile,
    },
  ];
  const [one, many] = plan.small.connections;
  for (const { endpoint, method, bodyFile } of endpoints) {
    log(`scenario 1: ${method} ${endpoint}`);
    for (const target of plan.warmupSeconds > 0 ? stack.targets : []) {
      await wrk(target, endpoint, one, plan.warmupSeconds, bodyFile);
      await wrk(target, endpoint, many, plan.warmupSeconds, bodyFile);
    }
    const runs = new Map<
      TargetName,
      Array<{ at1: WrkResult; atMany: Measured<WrkResult> }>
    >();
    for (let rep = 0; rep < plan.reps; rep++) {
      for (const target of rotate(stack.targets, rep)) {
        const at1 = await wrk(
          target,
          endpoint,
          one,
          plan.small.latencySeconds,
          bodyFile,
        );
        const atMany = await measure(target, () =>
          wrk(target, endpoint, many, plan.small.seconds, bodyFile),
        );
        const list = runs.get(target.name) ?? [];
        list.push({ at1, atMany });
        runs.set(target.name, list);
        log(
          `  rep ${rep + 1} ${target.name}: ${atMany.result.requestsPerSecond.toFixed(0)} req/s @${many}, ` +
            `p50 ${at1.latencyMs.p50.toFixed(3)} ms @${one}`,
        );
      }
    }
    const directP50 = runs.get("direct")?.map((r) => r.at1.latencyMs.p50);
    const directP99 = runs.get("direct")?.map((r) => r.at1.latencyMs.p99);
    const targets: PerTarget<SmallFigures> = {};
    for (const [name, list] of runs) {
      targets[name] = {
        requestsPerSecond: pick(list, (r) => r.atMany.result.requestsPerSecond),
        p50At1Ms: pick(list, (r) => r.at1.latencyMs.p50),
        p99At1Ms: pick(list, (r) => r.at1.latencyMs.p99),
        addedP50At1Ms: added(
          list.map((r) => r.at1.latencyMs.p50),
          directP50,
        ),
        addedP99At1Ms: added(
          list.map((r) => r.at1.latencyMs.p99),
          directP99,
        ),
        p50AtManyMs: pick(list, (r) => r.atMany.result.latencyMs.p50),
        p99AtManyMs: pick(list, (r) => r.atMany.result.latencyMs.p99),
        cpuPercent: pick(list, (r) => r.atMany.target.cpuPercent),
        cpuUsPerRequest: pick(
          list,
          (r) => (r.atMany.target.cpuSeconds / r.atMany.result.requests) * 1e6,
        ),
        upstreamCpuPercent: pick(list, (r) => r.atMany.upstream.cpuPercent),
        loadCpuPercent: pick(list, (r) => r.atMany.loadCpuPercent),
        otherCpuPercent: pick(list, (r) => r.atMany.otherCpuPercent),
        rssMaxMb: pick(list, (r) => r.atMany.target.rssMaxMb),
        errors: list.reduce(
          (sum, r) => sum + r.at1.errors + r.atMany.result.errors,
          0,
        ),
      };
    }
    const tracingAddedP50Ms = await tracingPairs(ctx, endpoint, bodyFile);
    small.push({
      endpoint,
      method,
      connections: plan.small.connections,
      targets,
      ...(tracingAddedP50Ms && { tracingAddedP50Ms }),
    });
  }
  return small;
}

export async function runStream(ctx: RunContext): Promise<StreamResult> {
  const { plan, stack, log, work, wrk, measure, loadCpus } = ctx;
  const { tokens, connections, seconds, checkStreams } = plan.stream;
  log(`scenario 2: streaming chat, ${tokens} tokens, unpaced`);
  const body = chatBody(BENCH_MODELS.fast, tokens);
  const bodyFile = join(work, "chat.json");
  await writeFile(bodyFile, body);
  const shape = new Map<TargetName, SequentialResult>();
  for (const target of stack.targets) {
    if (plan.warmupSeconds > 0)
      await wrk(target, "/api/chat", connections, plan.warmupSeconds, bodyFile);
    shape.set(
      target.name,
      await runClient<SequentialResult>(
        {
          mode: "sequential",
          url: target.url,
          path: "/api/chat",
          body,
          requests: checkStreams,
          warmup: 0,
          timeoutMs: 30_000,
        },
        loadCpus,
      ),
    );
  }
  const runs = new Map<TargetName, Array<Measured<WrkResult>>>();
  for (let rep = 0; rep < plan.reps; rep++) {
    for (const target of rotate(stack.targets, rep)) {
      const run = await measure(target, () =>
        wrk(target, "/api/chat", connections, seconds, bodyFile),
      );
      runs.set(target.name, [...(runs.get(target.name) ?? []), run]);
      log(
        `  rep ${rep + 1} ${target.name}: ${(run.result.bytesPerSecond / 1e6).toFixed(1)} MB/s, ` +
          `${run.result.requestsPerSecond.toFixed(0)} streams/s`,
      );
    }
  }
  const targets: PerTarget<StreamFigures> = {};
  for (const [name, list] of runs) {
    const check = shape.get(name);
    const chunksPerStream = summarize(check?.chunks ?? []).median;
    targets[name] = {
      bytesPerSecond: pick(list, (r) => r.result.bytesPerSecond),
      streamsPerSecond: pick(list, (r) => r.result.requestsPerSecond),
      chunksPerSecond: pick(
        list,
        (r) => r.result.requestsPerSecond * chunksPerStream,
      ),
      chunksPerStream,
      linesPerStream: summarize(check?.lines ?? []).median,
      cpuPercent: pick(list, (r) => r.target.cpuPercent),
      // Per Ollama chunk (a token, one NDJSON line), not per read the client saw: how a proxy's writes
      // coalesce into reads varies by target and by run, the work per token does not.
      cpuUsPerToken: pick(
        list,
        (r) => (r.target.cpuSeconds / (r.result.requests * (tokens + 1))) * 1e6,
      ),
      upstreamCpuPercent: pick(list, (r) => r.upstream.cpuPercent),
      loadCpuPercent: pick(list, (r) => r.loadCpuPercent),
      otherCpuPercent: pick(list, (r) => r.otherCpuPercent),
      errors:
        list.reduce((sum, r) => sum + r.result.errors, 0) +
        (check?.statuses.filter((s) => s !== 200).length ?? 0),
    };
  }
  return { tokens, connections, targets };
}

export async function runPaced(ctx: RunContext): Promise<PacedResult[]> {
  const { plan, stack, log, measure, loadCpus } = ctx;
  const paced: PacedResult[] = [];
  const { streamSeconds, rampMs, levels } = plan.paced;
  for (const { streams, tokensPerSecond } of levels) {
    const tokens = Math.max(2, Math.round(tokensPerSecond * streamSeconds));
    log(
      `scenario 3: ${streams} streams × ${tokens} tokens at ${tokensPerSecond} tok/s`,
    );
    const job: Job = {
      mode: "streams",
      url: "",
      path: "/api/chat",
      body: chatBody(BENCH_MODELS.paced(tokensPerSecond), tokens),
      streams,
      rampMs,
      expectLines: tokens + 1,
      timeoutMs: Math.max(30_000, streamSeconds * 10_000),
    };
    const runs = new Map<TargetName, Array<Measured<StreamsResult>>>();
    for (let rep = 0; rep < plan.paced.reps; rep++) {
      for (const target of rotate(stack.targets, rep)) {
        const run = await measure(target, () =>
          runClient<StreamsResult>({ ...job, url: target.url }, loadCpus),
        );
        runs.set(target.name, [...(runs.get(target.name) ?? []), run]);
        const r = run.result;
        log(
          `  rep ${rep + 1} ${target.name}: ttft p50 ${r.ttftMs.p50.toFixed(2)} ms, gap p99 ` +
            `${r.gapMs.p99.toFixed(2)} ms, lag p99 ${r.lagMs.p99.toFixed(2)} ms, ${r.broken} broken, ` +
            `rss ${run.target.rssMaxMb.toFixed(0)} MB, cpu ${run.target.cpuPercent.toFixed(0)} %, ` +
            `load ${run.loadCpuPercent.toFixed(0)} %, upstream ${run.upstream.cpuPercent.toFixed(0)} %, ` +
            `others ${run.otherCpuPercent.toFixed(0)} %`,
        );
      }
    }
    const direct = runs.get("direct")?.map((r) => r.result);
    const targets: PerTarget<PacedFigures> = {};
    for (const [name, list] of runs) {
      const results = list.map((r) => r.result);
      const brokenReasons: Record<string, number> = {};
      for (const r of results)
        for (const [reason, count] of Object.entries(r.brokenReasons))
          brokenReasons[reason] = (brokenReasons[reason] ?? 0) + count;
      const addedTo = (get: (r: StreamsResult) => number) =>
        added(results.map(get), direct?.map(get));
      targets[name] = {
        ttftP50Ms: pick(results, (r) => r.ttftMs.p50),
        ttftP99Ms: pick(results, (r) => r.ttftMs.p99),
        gapP50Ms: pick(results, (r) => r.gapMs.p50),
        gapP99Ms: pick(results, (r) => r.gapMs.p99),
        lagP50Ms: pick(results, (r) => r.lagMs.p50),
        lagP99Ms: pick(results, (r) => r.lagMs.p99),
        addedTtftP50Ms: addedTo((r) => r.ttftMs.p50),
        addedTtftP99Ms: addedTo((r) => r.ttftMs.p99),
        addedGapP50Ms: addedTo((r) => r.gapMs.p50),
        addedGapP99Ms: addedTo((r) => r.gapMs.p99),
        addedLagP99Ms: addedTo((r) => r.lagMs.p99),
        chunksPerStream: pick(results, (r) => r.chunksPerStream.p50),
        rssMaxMb: pick(list, (r) => r.target.rssMaxMb),
        cpuPercent: pick(list, (r) => r.target.cpuPercent),
        cpuUsPerToken: pick(
          list,
          (r) =>
            (r.target.cpuSeconds /
              Math.max(1, r.result.streams * (tokens + 1))) *
            1e6,
        ),
        upstreamCpuPercent: pick(list, (r) => r.upstream.cpuPercent),
        loadCpuPercent: pick(list, (r) => r.loadCpuPercent),
        otherCpuPercent: pick(list, (r) => r.otherCpuPercent),
        broken: results.reduce((sum, r) => sum + r.broken, 0),
        brokenReasons,
      };
    }
    paced.push({ streams, tokens, tokensPerSecond, targets });
  }
  return paced;
}

export async function runLarge(ctx: RunContext): Promise<LargeResult> {
  const { plan, stack, log, work, measure, loadCpus } = ctx;
  const { bodyBytes, requests } = plan.large;
  log(`scenario 4: ${(bodyBytes / 1024 / 1024).toFixed(1)} MiB image body`);
  const bodyFile = join(work, "image.json");
  await writeFile(bodyFile, imageBody(bodyBytes));
  const job = (url: string, count: number): Job => ({
    mode: "sequential",
    url,
    path: "/api/generate",
    bodyFile,
    requests: count,
    warmup: 0,
    timeoutMs: 60_000,
  });
  for (const target of stack.targets)
    await runClient<SequentialResult>(job(target.url, 1), loadCpus);
  const runs = new Map<TargetName, Array<Measured<SequentialResult>>>();
  for (let rep = 0; rep < plan.reps; rep++) {
    for (const target of rotate(stack.targets, rep)) {
      const run = await measure(target, () =>
        runClient<SequentialResult>(job(target.url, requests), loadCpus),
      );
      runs.set(target.name, [...(runs.get(target.name) ?? []), run]);
      log(
        `  rep ${rep + 1} ${target.name}: ${run.result.latencyMs.map((ms) => ms.toFixed(0)).join(", ")} ms`,
      );
    }
  }
  const medianOf = (run: Measured<SequentialResult>) =>
    summarize(run.result.latencyMs).median;
  const direct = runs.get("direct")?.map(medianOf);
  const targets: PerTarget<LargeFigures> = {};
  for (const [name, list] of runs) {
    targets[name] = {
      latencyP50Ms: pick(list, medianOf),
      latencyMaxMs: pick(list, (r) => Math.max(...r.result.latencyMs)),
      addedP50Ms: added(list.map(medianOf), direct),
      cpuMsPerRequest: pick(
        list,
        (r) => (r.target.cpuSeconds * 1000) / r.result.latencyMs.length,
      ),
      upstreamCpuMsPerRequest: pick(
        list,
        (r) => (r.upstream.cpuSeconds * 1000) / r.result.latencyMs.length,
      ),
      rssMaxMb: pick(list, (r) => r.target.rssMaxMb),
      failed: list.reduce(
        (sum, r) => sum + r.result.statuses.filter((s) => s !== 200).length,
        0,
      ),
    };
  }
  return { bodyBytes, targets };
}
