// One benchmark run: starts the stack once, measures every scenario through every target (repetitions
// interleaved, order rotating, warm-up left out), stops everything, and returns every figure.
import { cpus, loadavg } from "node:os";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResults, RunOptions } from "./figures.ts";
import {
  cpuSeconds,
  machineCpuSeconds,
  meter,
  reapedChildrenCpuSeconds,
} from "./processes.ts";
import {
  runLarge,
  runPaced,
  runSmall,
  runStream,
  type Measured,
  type RunContext,
} from "./scenario-runs.ts";
import {
  startStack,
  TARGET_LABELS,
  type RecordCounts,
  type Stack,
  type Target,
} from "./targets.ts";
import { runWrk } from "./wrk.ts";

export type {
  BenchResults,
  PacedFigures,
  RunOptions,
  ScenarioName,
} from "./figures.ts";

const LOAD_CPUS = "0";

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
  const none: RecordCounts = {
    enqueued: 0,
    shipped: 0,
    dropped: 0,
    spansExported: 0,
    spansDropped: 0,
  };
  let records = none;
  let traced = none;
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
      // The next measurement starts with no records of this one still being shipped.
      if (target.name === "proxy")
        records = await stack.settleRecords(target.name, 30_000);
      else if (target.name === "proxy-traced")
        traced = await stack.settleRecords(target.name, 30_000);
      else if (target.name === "proxy-3-backends")
        await stack.settleRecords(target.name, 30_000);
      return measured;
    };

    const wrk: RunContext["wrk"] = (
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

    const context: RunContext = {
      plan,
      stack,
      log,
      work,
      loadCpus,
      measure,
      wrk,
    };
    const small = options.scenarios.has("small") ? await runSmall(context) : [];
    const stream = options.scenarios.has("stream")
      ? await runStream(context)
      : undefined;
    const paced = options.scenarios.has("paced") ? await runPaced(context) : [];
    const large = options.scenarios.has("large")
      ? await runLarge(context)
      : undefined;

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
          "bench/proxy-core-main.ts: proxy/src/exchange/owner.ts with no finish hook (no records, " +
          "no request metrics; body parsing, taps and the in-flight gauge still run)",
        proxyNodeOptions: stack.proxyNodeOptions,
        records,
        traced,
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
