// What a benchmark run produces: the options it ran with and every figure per scenario and target, as
// bench/report.ts renders them and latest.json stores them.
import type { Plan } from "./scenarios.ts";
import type { Summary } from "./stats.ts";
import type { RecordCounts, TargetName } from "./targets.ts";

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

export type PerTarget<T> = Partial<Record<TargetName, T>>;

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
  /**
   * Tracing on minus off, in ms of p50 at one connection, per pair of back-to-back latency runs (their order
   * alternating); absent unless both proxies ran.
   */
  readonly tracingAddedP50Ms?: Summary;
}

export interface StreamFigures {
  readonly bytesPerSecond: Summary;
  readonly streamsPerSecond: Summary;
  readonly chunksPerSecond: Summary;
  readonly chunksPerStream: number;
  readonly linesPerStream: number;
  readonly cpuPercent: Summary;
  /** The target's CPU time per Ollama chunk (one token, one NDJSON line) of the stream, in µs. */
  readonly cpuUsPerToken: Summary;
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
  readonly cpuUsPerToken: Summary;
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
    /** The traced proxy's counts: its spans exported and dropped (all zero when it did not run). */
    readonly traced: RecordCounts;
  };
  readonly small: SmallResult[];
  readonly stream: StreamResult | undefined;
  readonly paced: PacedResult[];
  readonly large: LargeResult | undefined;
}
