// The issues' performance targets, checked against one run's figures (bench/report.ts renders them first).
import { num, signedMs } from "./format.ts";
import type { BenchResults, PacedFigures } from "./run.ts";
import { pairedMedian } from "./stats.ts";

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly holds: boolean | undefined;
}

/**
 * Issue 13's starting point (bench/results of 2026-11-23): our CPU per request over a bare http-proxy-3, in µs.
 * The target is a cut of at least 60 % from these.
 */
const OVERHEAD_BEFORE_US: Record<string, number> = {
  "/api/tags": 99,
  "/api/generate": 194,
};

export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const endpoint of results.small) {
    const proxy = endpoint.targets.proxy;
    const nginx = endpoint.targets.nginx;
    const core = endpoint.targets["proxy-core"];
    const bare = endpoint.targets.passthrough;
    const traced = endpoint.targets["proxy-traced"];
    const [one, many] = endpoint.connections;
    if (!proxy) continue;
    const p50 = proxy.addedP50At1Ms.median;
    const p99 = proxy.addedP99At1Ms.median;
    checks.push({
      target: `1 · ${endpoint.endpoint}: added p50 ≤ 0.2 ms, p99 ≤ 2 ms (${one} connection)`,
      measured: `+${num(p50, 3)} ms / +${num(p99, 3)} ms`,
      holds:
        Number.isFinite(p50) && Number.isFinite(p99)
          ? p50 <= 0.2 && p99 <= 2
          : undefined,
    });
    if (nginx) {
      const r = proxy.requestsPerSecond.median / nginx.requestsPerSecond.median;
      checks.push({
        target: `1 · ${endpoint.endpoint}: throughput ≥ 0.5× nginx (${many} connections)`,
        measured: `${num(r, 2)}×`,
        holds: Number.isFinite(r) ? r >= 0.5 : undefined,
      });
    }
    if (core) {
      const cost =
        1 - proxy.requestsPerSecond.median / core.requestsPerSecond.median;
      checks.push({
        target: `1 · ${endpoint.endpoint}: records + metrics cost ≤ 10 % of throughput`,
        measured: `${num(cost * 100, 1)} %`,
        holds: Number.isFinite(cost) ? cost <= 0.1 : undefined,
      });
    }
    const before = OVERHEAD_BEFORE_US[endpoint.endpoint];
    if (bare && before !== undefined) {
      const over = proxy.cpuUsPerRequest.median - bare.cpuUsPerRequest.median;
      checks.push({
        target: `1 · ${endpoint.endpoint}: CPU per request over bare http-proxy-3 ≤ ${num(before * 0.4)} µs (issue 13: −60 % from +${before})`,
        measured: `${over >= 0 ? "+" : "−"}${num(Math.abs(over))} µs`,
        holds: Number.isFinite(over) ? over <= before * 0.4 : undefined,
      });
    }
    const pairs = endpoint.tracingAddedP50Ms;
    if (traced && pairs) {
      const added = pairs.median * 1000;
      checks.push({
        target: `1 · ${endpoint.endpoint}: tracing on adds ≤ 20 µs to the p50, ${pairs.values.length} alternating pairs (issue 14)`,
        measured: `${added >= 0 ? "+" : "−"}${num(Math.abs(added))} µs`,
        holds: Number.isFinite(added) ? added <= 20 : undefined,
      });
    }
  }
  const stream = results.stream;
  if (stream?.targets.proxy) {
    const proxy = stream.targets.proxy;
    const nginx = stream.targets.nginx;
    const direct = stream.targets.direct;
    if (nginx) {
      const r = proxy.bytesPerSecond.median / nginx.bytesPerSecond.median;
      checks.push({
        target: "2 · streaming bytes/s ≥ 0.8× nginx",
        measured: `${num(r, 2)}×`,
        holds: Number.isFinite(r) ? r >= 0.8 : undefined,
      });
    }
    const bare = stream.targets.passthrough;
    if (bare) {
      const r = proxy.cpuUsPerToken.median / bare.cpuUsPerToken.median;
      checks.push({
        target:
          "2 · CPU per streamed token ≤ 1.15× bare http-proxy-3 (issue 13)",
        measured: `${num(r, 2)}×`,
        holds: Number.isFinite(r) ? r <= 1.15 : undefined,
      });
    }
    const traced = stream.targets["proxy-traced"];
    if (traced) {
      const r = pairedMedian(
        traced.cpuUsPerToken,
        proxy.cpuUsPerToken,
        (on, off) => on / off,
      );
      checks.push({
        target:
          "2 · tracing on: CPU per streamed token ≤ 1.10× off, paired by repetition (issue 14)",
        measured: `${num(r, 2)}×`,
        holds: Number.isFinite(r) ? r <= 1.1 : undefined,
      });
    }
    if (direct) {
      checks.push({
        target:
          "2 · every chunk forwarded as its own write (chunks per stream = direct)",
        measured: `${num(proxy.chunksPerStream)} vs ${num(direct.chunksPerStream)}`,
        holds: proxy.chunksPerStream === direct.chunksPerStream,
      });
    }
  }
  const most = Math.max(...results.paced.map((level) => level.streams));
  for (const level of results.paced.filter((l) => l.streams === most)) {
    const proxy: PacedFigures | undefined = level.targets.proxy;
    if (!proxy) continue;
    const at = `3 · ${level.streams} streams at ${level.tokensPerSecond} tok/s`;
    const gap = proxy.addedGapP99Ms.median;
    checks.push({
      target: `${at}: added inter-chunk p99 ≤ 2 ms`,
      measured: `${signedMs(proxy.addedGapP99Ms)} ms`,
      holds: Number.isFinite(gap) ? gap <= 2 : undefined,
    });
    checks.push({
      target: `${at}: proxy RSS ≤ 200 MB`,
      measured: `${num(proxy.rssMaxMb.max)} MB (peak)`,
      holds: proxy.rssMaxMb.max <= 200,
    });
    checks.push({
      target: `${at}: no stream broken`,
      measured: `${proxy.broken} broken`,
      holds: proxy.broken === 0,
    });
  }
  return checks;
}
