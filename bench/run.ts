// One benchmark run: starts the stack once, measures every scenario through every target (repetitions
// interleaved, order rotating, warm-up left out), stops everything, and returns every figure.
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cpuSeconds,
  machineCpuSeconds,
  meter,
  reapedChildrenCpuSeconds,
  type Usage,
} from "./processes.ts";
import {
  BENCH_MODELS,
  chatBody,
  generateBody,
  imageBody,
  type Plan,
} from "./scenarios.ts";
import { summarize, type Summary } from "./stats.ts";
import type { Job, SequentialResult, StreamsResult } from "./stream-client.ts";
import {
  startStack,
  TARGET_LABELS,
  type RecordCounts,
  type Stack,
  type Target,
  type TargetName,
} from "./targets.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

export interface RunOptions {
  readonly plan: Plan;
  readonly targets: readonly TargetName[];
  /** Pin upstream + load to CPU 0 and the target to CPU 1 (taskset). */
  readonly pin: boolean;
  readonly redis: boolean;
  readonly nginxBin: string;
  readonly wrkBin: string;
  /** Only these scenarios (default all). */
  readonly scenarios: ReadonlySet<ScenarioName>;
  /** Write V8 CPU profiles of the Node targets here (node --cpu-prof). */
  readonly profileDir?: string | undefined;
  readonly proxySrc?: string | undefined;
  readonly proxyEnv?: Readonly<Record<string, string>>;
  readonly log: (line: string) => void;
}

export type ScenarioName = "small" | "stream" | "paced" | "large";

type PerTarget<T> = Partial<Record<TargetName, T>>;

export interface SmallFigures {
  readonly requestsPerSecond: Summary;
  readonly p50At1Ms: Summary;
  readonly p99At1Ms: Summary;
  readonly addedP50At1Ms: Summary;
  readonly addedP99At1Ms: Summary;
  readonly p50AtManyMs: Summary;
  readonly p99AtManyMs: Summary;
  readonly cpuPercent: Summary;
  /** The target's CPU time per request at connections[1], in µs (robust to other load on the machine). */
  readonly cpuUsPerRequest: Summary;
  readonly upstreamCpuPercent: Summary;
  readonly loadCpuPercent: Summary;
  /** CPU used on this machine by processes outside the benchmark during the run (other work, noise). */
  readonly otherCpuPercent: Summary;
  readonly rssMaxMb: Summary;
  readonly errors: number;
}

export interface SmallResult {
  readonly endpoint: string;
  readonly method: string;
  readonly connections: readonly [number, number];
  readonly targets: PerTarget<SmallFigures>;
}

export interface StreamFigures {
  readonly bytesPerSecond: Summary;
  readonly streamsPerSecond: Summary;
  readonly chunksPerSecond: Summary;
  readonly chunksPerStream: number;
  readonly linesPerStream: number;
  readonly cpuPercent: Summary;
  /** The target's CPU time per forwarded chunk (token), in µs. */
  readonly cpuUsPerChunk: Summary;
  readonly upstreamCpuPercent: Summary;
  readonly loadCpuPercent: Summary;
  readonly otherCpuPercent: Summary;
  readonly errors: number;
}

export interface StreamResult {
  readonly tokens: number;
  readonly connections: number;
  readonly targets: PerTarget<StreamFigures>;
}

export interface PacedFigures {
  readonly ttftP50Ms: Summary;
  readonly ttftP99Ms: Summary;
  readonly gapP50Ms: Summary;
  readonly gapP99Ms: Summary;
  readonly lagP50Ms: Summary;
  readonly lagP99Ms: Summary;
  readonly addedTtftP50Ms: Summary;
  readonly addedTtftP99Ms: Summary;
  readonly addedGapP50Ms: Summary;
  readonly addedGapP99Ms: Summary;
  readonly addedLagP99Ms: Summary;
  readonly chunksPerStream: Summary;
  readonly rssMaxMb: Summary;
  readonly cpuPercent: Summary;
  readonly cpuUsPerChunk: Summary;
  readonly upstreamCpuPercent: Summary;
  readonly loadCpuPercent: Summary;
  readonly otherCpuPercent: Summary;
  readonly broken: number;
  readonly brokenReasons: Record<string, number>;
}

export interface PacedResult {
  readonly streams: number;
  readonly tokens: number;
  readonly tokensPerSecond: number;
  readonly targets: PerTarget<PacedFigures>;
}

export interface LargeFigures {
  readonly latencyP50Ms: Summary;
  readonly latencyMaxMs: Summary;
  readonly addedP50Ms: Summary;
  /** The target's CPU time per request, in ms. */
  readonly cpuMsPerRequest: Summary;
  readonly upstreamCpuMsPerRequest: Summary;
  readonly rssMaxMb: Summary;
  readonly failed: number;
}

export interface LargeResult {
  readonly bodyBytes: number;
  readonly targets: PerTarget<LargeFigures>;
}

export interface BenchResults {
  readonly version: 1;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly plan: Plan;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly node: string;
    readonly loadAverageAtStart: readonly number[];
    readonly loadAverageAtEnd: readonly number[];
    readonly pinned: boolean;
  };
  readonly setup: {
    readonly targets: ReadonlyArray<{ name: TargetName; label: string }>;
    readonly recordPath: string;
    readonly analyticsOff: string;
    /** NODE_OPTIONS of both variants of our proxy: the image's. */
    readonly proxyNodeOptions: string;
    readonly records: RecordCounts;
  };
  readonly small: SmallResult[];
  readonly stream: StreamResult | undefined;
  readonly paced: PacedResult[];
  readonly large: LargeResult | undefined;
}

const CLIENT = fileURLToPath(new URL("./stream-client.ts", import.meta.url));
const LOAD_CPUS = "0";

interface Measured<T> {
  readonly result: T;
  readonly target: Usage;
  readonly upstream: Usage;
  /** wrk or the stream client. */
  readonly loadCpuPercent: number;
  readonly otherCpuPercent: number;
}

/** Runs the stream client in its own process and returns its JSON answer. */
function runClient<T>(job: Job, cpus: string | undefined): Promise<T> {
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

function rotate<T>(items: readonly T[], by: number): T[] {
  const n = items.length;
  return items.map((_, i) => items[(i + by) % n] as T);
}

function pick<T>(values: readonly T[], get: (value: T) => number): Summary {
  return summarize(values.map(get));
}

/** Per repetition: this target's figure minus direct's in the same repetition. */
function added(
  mine: readonly number[],
  direct: readonly number[] | undefined,
): Summary {
  if (!direct) return summarize([]);
  return summarize(mine.map((value, i) => value - (direct[i] ?? Number.NaN)));
}

export async function runBench(options: RunOptions): Promise<BenchResults> {
  const { plan, log } = options;
  const began = Date.now();
  const loadAverageAtStart = loadavg();
  const targetCpus = options.pin ? "1" : undefined;
  const loadCpus = options.pin ? LOAD_CPUS : undefined;
  const stack = await startStack({
    targets: options.targets,
    cpus: options.pin ? { upstream: "0", target: targetCpus, sinks: "0" } : {},
    redis: options.redis,
    nginxBin: options.nginxBin,
    paces: [...new Set(plan.paced.levels.map((l) => l.tokensPerSecond))],
    profileDir: options.profileDir,
    proxySrc: options.proxySrc,
    proxyEnv: options.proxyEnv,
  });
  const work = await mkdtemp(join(tmpdir(), "bench-bodies-"));
  let records: RecordCounts = { enqueued: 0, shipped: 0, dropped: 0 };
  try {
    log(
      `stack up: upstream ${stack.upstreamUrl}; ${stack.targets.map((t) => `${t.name} ${t.url}`).join(", ")}`,
    );

    const measure = async <T>(
      target: Target,
      fn: () => Promise<T>,
    ): Promise<Measured<T>> => {
      const began = performance.now();
      const machine = machineCpuSeconds().busy;
      const load = reapedChildrenCpuSeconds();
      const self = cpuSeconds(process.pid);
      const targetMeter = meter(target.pids);
      const upstreamMeter = meter([stack.upstreamPid]);
      const sinksMeter = meter(stack.sinkPids);
      const result = await fn();
      const usage = {
        target: targetMeter.stop(),
        upstream: upstreamMeter.stop(),
        sinks: sinksMeter.stop(),
      };
      const wall = (performance.now() - began) / 1000;
      const loadSeconds = reapedChildrenCpuSeconds() - load;
      const ours =
        usage.target.cpuSeconds +
        usage.upstream.cpuSeconds +
        usage.sinks.cpuSeconds +
        loadSeconds +
        (cpuSeconds(process.pid) - self);
      const busy = machineCpuSeconds().busy - machine;
      const measured = {
        result,
        target: usage.target,
        upstream: usage.upstream,
        loadCpuPercent: (loadSeconds / wall) * 100,
        otherCpuPercent: (Math.max(0, busy - ours) / wall) * 100,
      };
      if (target.name === "proxy") records = await stack.settleRecords(30_000);
      return measured;
    };

    const wrk = (
      target: Target,
      path: string,
      connections: number,
      seconds: number,
      bodyFile: string | undefined,
    ) =>
      runWrk({
        url: `${target.url}${path}`,
        connections,
        seconds,
        method: bodyFile ? "POST" : "GET",
        bodyFile,
        cpus: loadCpus,
        bin: options.wrkBin,
      });

    const small: SmallResult[] = [];
    if (options.scenarios.has("small")) {
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
            requestsPerSecond: pick(
              list,
              (r) => r.atMany.result.requestsPerSecond,
            ),
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
              (r) =>
                (r.atMany.target.cpuSeconds / r.atMany.result.requests) * 1e6,
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
        small.push({
          endpoint,
          method,
          connections: plan.small.connections,
          targets,
        });
      }
    }

    let stream: StreamResult | undefined;
    if (options.scenarios.has("stream")) {
      const { tokens, connections, seconds, checkStreams } = plan.stream;
      log(`scenario 2: streaming chat, ${tokens} tokens, unpaced`);
      const body = chatBody(BENCH_MODELS.fast, tokens);
      const bodyFile = join(work, "chat.json");
      await writeFile(bodyFile, body);
      const shape = new Map<TargetName, SequentialResult>();
      for (const target of stack.targets) {
        if (plan.warmupSeconds > 0)
          await wrk(
            target,
            "/api/chat",
            connections,
            plan.warmupSeconds,
            bodyFile,
          );
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
          cpuUsPerChunk: pick(
            list,
            (r) =>
              (r.target.cpuSeconds / (r.result.requests * chunksPerStream)) *
              1e6,
          ),
          upstreamCpuPercent: pick(list, (r) => r.upstream.cpuPercent),
          loadCpuPercent: pick(list, (r) => r.loadCpuPercent),
          otherCpuPercent: pick(list, (r) => r.otherCpuPercent),
          errors:
            list.reduce((sum, r) => sum + r.result.errors, 0) +
            (check?.statuses.filter((s) => s !== 200).length ?? 0),
        };
      }
      stream = { tokens, connections, targets };
    }

    const paced: PacedResult[] = [];
    if (options.scenarios.has("paced")) {
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
            cpuUsPerChunk: pick(
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
    }

    let large: LargeResult | undefined;
    if (options.scenarios.has("large")) {
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
      large = { bodyBytes, targets };
    }

    return {
      version: 1,
      startedAt: new Date(began).toISOString(),
      durationSeconds: (Date.now() - began) / 1000,
      plan,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? "unknown",
        node: process.version,
        loadAverageAtStart,
        loadAverageAtEnd: loadavg(),
        pinned: options.pin,
      },
      setup: {
        targets: stack.targets.map((t) => ({
          name: t.name,
          label: TARGET_LABELS[t.name],
        })),
        recordPath: stack.recordPath,
        analyticsOff:
          "bench/proxy-core-main.ts: proxy/src/http/proxy.ts's handler with onExchange a no-op (no records, " +
          "no request metrics; body parsing, taps and the in-flight gauge still run)",
        proxyNodeOptions: stack.proxyNodeOptions,
        records,
      },
      small,
      stream,
      paced,
      large,
    };
  } finally {
    await stack.close();
    await rm(work, { recursive: true, force: true });
  }
}

export type { Stack };
