// Our proxy as shipped, for the benchmark: the compiled main.js with the image's NODE_OPTIONS, records through its
// own Redis outbox (when redis-server is installed) to its own fake Loki, and — for "proxy-traced" — one span per
// request at 100 % sampling to an OTLP sink that accepts and discards. Each shipped proxy has its own sinks, so
// that the two never ship each other's records.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/helpers/free-port.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../test/helpers/redis-server.ts";
import { startChild, type Child } from "./processes.ts";
import type { Target, TargetName } from "./targets.ts";

export interface RecordCounts {
  readonly enqueued: number;
  readonly shipped: number;
  readonly dropped: number;
  /** Tracing on: spans the OTLP sink accepted, and spans lost (queue full or export failed). */
  readonly spansExported: number;
  readonly spansDropped: number;
}

export interface ShippedProxy {
  readonly target: Target;
  readonly children: readonly Child[];
  readonly redis: readonly RedisServer[];
  /** The sinks' processes (fake Loki, redis-server, OTLP sink). */
  readonly sinkPids: readonly number[];
  readonly recordPath: string;
  /** Waits until the proxy has shipped (or dropped) every record it enqueued; returns the counts. */
  settleRecords(timeoutMs: number): Promise<RecordCounts>;
}

export interface ShippedProxyOptions {
  readonly name: TargetName;
  readonly node: string;
  /** Node flags and the script. */
  readonly args: readonly string[];
  readonly upstreamUrl: string;
  readonly nodeOptions: string;
  readonly redis: boolean;
  readonly cpus: { readonly target?: string; readonly sinks?: string };
  readonly env?: Readonly<Record<string, string>> | undefined;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** The sample lines of the metric `name` in a text exposition (no comments, no other metric sharing the prefix). */
export function sampleLines(text: string, name: string): string[] {
  return text
    .split("\n")
    .filter(
      (line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `),
    );
}

function sample(text: string, name: string, labels: string): number {
  let total = 0;
  for (const line of sampleLines(text, name))
    if (line.includes(labels))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  return total;
}

export async function startShippedProxy(
  options: ShippedProxyOptions,
): Promise<ShippedProxy> {
  const { node, name } = options;
  const children: Child[] = [];
  const redisServers: RedisServer[] = [];
  const sinkPids: number[] = [];
  const lokiPort = await freePort();
  const loki = await startChild(
    `${name}-fake-loki`,
    node,
    [join(ROOT, "test/fixtures/fake-loki-main.ts")],
    {
      env: { FAKE_LOKI_PORT: String(lokiPort) },
      port: lokiPort,
      cpus: options.cpus.sinks,
    },
  );
  children.push(loki);
  sinkPids.push(loki.pid);
  let redis: RedisServer | undefined;
  if (options.redis) {
    redis = await startRedisServer({ args: ["--appendfsync", "everysec"] });
    redisServers.push(redis);
    if (redis.pid !== undefined) sinkPids.push(redis.pid);
  }
  const tracing: Record<string, string> = {};
  if (name === "proxy-traced") {
    const otlpPort = await freePort();
    const sink = await startChild(
      `${name}-otlp-sink`,
      node,
      [here("./otlp-sink-main.ts")],
      {
        env: { BENCH_OTLP_PORT: String(otlpPort) },
        port: otlpPort,
        cpus: options.cpus.sinks,
      },
    );
    children.push(sink);
    sinkPids.push(sink.pid);
    tracing.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${otlpPort}`;
    tracing.OTEL_TRACES_SAMPLER = "always_on";
    // Scenario 1 ends ~20,000 spans a second; the default queue (2,048) drops some between exports, and a
    // dropped span is tracing work not measured.
    tracing.OTEL_BSP_MAX_QUEUE_SIZE = "65536";
  }
  // Three backends that are three names for the one upstream process: routing, three transports and three
  // pollers are measured, while the upstream's work (and CPU) stays that of the other targets.
  const backends: Record<string, string> =
    name === "proxy-3-backends"
      ? {
          OLLAMA_BACKENDS: ["b1", "b2", "b3"]
            .map((backend) => `${backend}=${options.upstreamUrl}`)
            .join(","),
        }
      : {};
  const port = await freePort();
  const child = await startChild(name, node, [...options.args], {
    env: {
      NODE_OPTIONS: options.nodeOptions,
      PROXY_PORT: String(port),
      PROXY_HOST: "127.0.0.1",
      OLLAMA_URL: options.upstreamUrl,
      LOKI_URL: `http://127.0.0.1:${lokiPort}`,
      REDIS_URL: redis?.url,
      // The global admission limit (default 50 in flight, the rest queued) protects a real Ollama; it would
      // queue scenario 3's streams by design. The benchmark measures the proxy's own cost.
      MAX_CONCURRENT: "0",
      ...tracing,
      ...backends,
      ...options.env,
    },
    ready: /ollama-proxy listening/,
    cpus: options.cpus.target,
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  const lokiUrl = /listening on (\S+)/.exec(loki.output())?.[1];
  return {
    target: { name, url, pids: [child.pid] },
    children,
    redis: redisServers,
    sinkPids,
    recordPath: redis
      ? "Redis outbox → fake Loki"
      : "memory outbox → fake Loki",
    async settleRecords(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let counts: RecordCounts;
      for (;;) {
        const text = await (await fetch(`${url}/metrics`)).text();
        counts = {
          enqueued: sample(
            text,
            "ollama_proxy_records_total",
            'outcome="enqueued"',
          ),
          shipped: sample(
            text,
            "ollama_proxy_records_total",
            'outcome="shipped"',
          ),
          dropped: sample(
            text,
            "ollama_proxy_records_total",
            'outcome="dropped"',
          ),
          spansExported: sample(
            text,
            "ollama_proxy_trace_spans_exported_total",
            "",
          ),
          spansDropped: sample(
            text,
            "ollama_proxy_trace_spans_dropped_total",
            "",
          ),
        };
        if (counts.shipped + counts.dropped >= counts.enqueued) break;
        if (Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The fake Loki keeps every entry in memory; a long run would grow it for nothing.
      if (lokiUrl)
        await fetch(`${lokiUrl}/__fake/reset`, { method: "POST" }).catch(
          () => undefined,
        );
      return counts;
    },
  };
}
