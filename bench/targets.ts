// Starts what a run measures, once, on loopback: the upstream (emulator), the record sinks (fake Loki, and a
// real redis-server when installed), and each way to reach the upstream: direct, nginx, a bare http-proxy-3
// pass-through, our proxy as shipped, and our proxy with the record path off.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/helpers/free-port.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../test/helpers/redis-server.ts";
import { compileTargets, type CompiledTargets } from "./build.ts";
import { startChild, type Child } from "./processes.ts";

/**
 * The V8 flags the proxy image sets (proxy/Dockerfile's NODE_OPTIONS): both variants of our proxy run with them,
 * so that "as shipped" means what the image runs.
 */
export async function imageNodeOptions(): Promise<string> {
  const dockerfile = await readFile(join(ROOT, "proxy/Dockerfile"), "utf8");
  const match = /\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/.exec(dockerfile);
  return match?.[1] ?? match?.[2] ?? "";
}

export const TARGET_NAMES = [
  "direct",
  "nginx",
  "node-pipe",
  "passthrough",
  "proxy",
  "proxy-core",
  "proxy-metrics",
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** What `npm run bench` measures unless --targets says otherwise (node-pipe and proxy-metrics are extra baselines). */
export const DEFAULT_TARGETS: readonly TargetName[] = [
  "direct",
  "nginx",
  "passthrough",
  "proxy",
  "proxy-core",
];

export const TARGET_LABELS: Record<TargetName, string> = {
  direct: "direct",
  nginx: "nginx",
  "node-pipe": "Node http pipe",
  passthrough: "http-proxy-3 bare",
  proxy: "our proxy",
  "proxy-core": "our proxy, analytics off",
  "proxy-metrics": "our proxy, metrics only",
};

export interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** Processes whose CPU and RSS count for this target (none for direct). */
  readonly pids: readonly number[];
}

export interface Stack {
  readonly upstreamUrl: string;
  readonly upstreamPid: number;
  /** fake Loki and redis-server: where the shipped proxy's records go. */
  readonly sinkPids: readonly number[];
  readonly targets: readonly Target[];
  readonly recordPath: string;
  /** NODE_OPTIONS both variants of our proxy run with. */
  readonly proxyNodeOptions: string;
  /** Waits until the shipped proxy has shipped (or dropped) every record it enqueued; returns the counts. */
  settleRecords(timeoutMs: number): Promise<RecordCounts>;
  close(): Promise<void>;
}

export interface RecordCounts {
  readonly enqueued: number;
  readonly shipped: number;
  readonly dropped: number;
}

export interface StackOptions {
  readonly targets: readonly TargetName[];
  /** taskset CPU lists; undefined = unpinned. */
  readonly cpus: {
    readonly upstream?: string;
    readonly target?: string;
    readonly sinks?: string;
  };
  readonly redis: boolean;
  readonly nginxBin: string;
  readonly paces: readonly number[];
  /** Directory for V8 CPU profiles of the Node targets (--cpu-prof); undefined = no profiling. */
  readonly profileDir?: string | undefined;
  /** Another copy of proxy/src for the proxy targets (to measure a change); default the repo's. */
  readonly proxySrc?: string | undefined;
  /** Extra environment of the shipped proxy (e.g. MAX_CONCURRENT=50 to measure the admission limit). */
  readonly proxyEnv?: Readonly<Record<string, string>>;
}

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export function findBinary(name: string, extra: readonly string[] = []) {
  const dirs = [...(process.env.PATH ?? "").split(":"), ...extra];
  for (const dir of dirs) {
    const path = join(dir, name);
    if (dir !== "" && existsSync(path)) return path;
  }
  return undefined;
}

async function startNginx(
  bin: string,
  upstreamPort: number,
  cpus: string | undefined,
): Promise<{ child: Child; url: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "bench-nginx-"));
  const port = await freePort();
  const template = await readFile(here("./nginx/nginx.conf.template"), "utf8");
  const conf = template
    // Run as root, nginx would switch its worker to nobody, who cannot use this private temp dir.
    .replaceAll(
      "{{USER_DIRECTIVE}}",
      process.getuid?.() === 0 ? "user root;" : "",
    )
    .replaceAll("{{DIR}}", dir)
    .replaceAll("{{PORT}}", String(port))
    .replaceAll("{{UPSTREAM_PORT}}", String(upstreamPort));
  const confPath = join(dir, "nginx.conf");
  await writeFile(confPath, conf);
  const child = await startChild(
    "nginx",
    bin,
    [
      "-p",
      dir,
      "-c",
      confPath,
      "-e",
      join(dir, "error.log"),
      "-g",
      "daemon off;",
    ],
    { port, cpus },
  );
  return { child, url: `http://127.0.0.1:${port}`, dir };
}

async function metricsText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  return res.text();
}

function sample(text: string, name: string, labels: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(labels))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  let nginxDir: string | undefined;
  let compiled: CompiledTargets | undefined;
  const close = async () => {
    await Promise.all(children.map((child) => child.stop()));
    await redis?.close();
    if (nginxDir) await rm(nginxDir, { recursive: true, force: true });
    await compiled?.remove();
  };
  try {
    const node = process.execPath;
    const nodeOptions = await imageNodeOptions();
    // The Node targets run compiled, as the image runs the proxy (see build.ts).
    compiled = await compileTargets(
      ROOT,
      options.proxySrc ?? join(ROOT, "proxy/src"),
    );
    // One directory per target with Node's default file names, which carry the thread id: a target with worker
    // threads (the proxy's analytics thread) leaves one profile per thread.
    const nodeFlags = (name: string) =>
      options.profileDir
        ? ["--cpu-prof", `--cpu-prof-dir=${join(options.profileDir, name)}`]
        : [];
    const upstreamPort = await freePort();
    const upstream = await startChild(
      "upstream",
      node,
      [here("./upstream-main.ts")],
      {
        env: {
          BENCH_UPSTREAM_PORT: String(upstreamPort),
          BENCH_PACES: options.paces.join(","),
        },
        port: upstreamPort,
        cpus: options.cpus.upstream,
      },
    );
    children.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

    const targets: Target[] = [];
    const sinkPids: number[] = [];
    let proxyUrl: string | undefined;
    let recordPath = "none";
    for (const name of options.targets) {
      switch (name) {
        case "direct":
          targets.push({ name, url: upstreamUrl, pids: [] });
          break;
        case "nginx": {
          const nginx = await startNginx(
            options.nginxBin,
            upstreamPort,
            options.cpus.target,
          );
          nginxDir = nginx.dir;
          children.push(nginx.child);
          targets.push({ name, url: nginx.url, pids: [nginx.child.pid] });
          break;
        }
        case "node-pipe":
        case "passthrough":
        case "proxy-core":
        case "proxy-metrics": {
          const port = await freePort();
          const child = await startChild(
            name,
            node,
            [
              ...nodeFlags(name),
              join(
                compiled.benchDir,
                name === "proxy-metrics"
                  ? "proxy-core-main.js"
                  : `${name}-main.js`,
              ),
            ],
            {
              env: {
                BENCH_PORT: String(port),
                BENCH_TARGET: upstreamUrl,
                BENCH_PROXY_SRC: compiled.proxyDir,
                ...(name === "proxy-core" || name === "proxy-metrics"
                  ? { NODE_OPTIONS: nodeOptions }
                  : {}),
                ...(name === "proxy-metrics"
                  ? { BENCH_ON_EXCHANGE: "metrics" }
                  : {}),
              },
              port,
              cpus: options.cpus.target,
            },
          );
          children.push(child);
          targets.push({
            name,
            url: `http://127.0.0.1:${port}`,
            pids: [child.pid],
          });
          break;
        }
        case "proxy": {
          const lokiPort = await freePort();
          const loki = await startChild(
            "fake-loki",
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
          if (options.redis) {
            redis = await startRedisServer({
              args: ["--appendfsync", "everysec"],
            });
            if (redis.pid !== undefined) sinkPids.push(redis.pid);
          }
          const port = await freePort();
          const child = await startChild(
            "proxy",
            node,
            [...nodeFlags(name), join(compiled.proxyDir, "main.js")],
            {
              env: {
                NODE_OPTIONS: nodeOptions,
                PROXY_PORT: String(port),
                PROXY_HOST: "127.0.0.1",
                OLLAMA_URL: upstreamUrl,
                LOKI_URL: `http://127.0.0.1:${lokiPort}`,
                REDIS_URL: redis?.url,
                // The global admission limit (default 50 in flight, the rest queued) protects a real Ollama; it
                // would queue scenario 3's streams by design. The benchmark measures the proxy's own cost.
                MAX_CONCURRENT: "0",
                ...options.proxyEnv,
              },
              ready: /ollama-proxy listening/,
              cpus: options.cpus.target,
            },
          );
          children.push(child);
          proxyUrl = `http://127.0.0.1:${port}`;
          recordPath = redis
            ? "Redis outbox → fake Loki"
            : "memory outbox → fake Loki";
          targets.push({ name, url: proxyUrl, pids: [child.pid] });
          break;
        }
      }
    }

    const lokiUrl = (() => {
      const loki = children.find((child) => child.name === "fake-loki");
      const match = loki ? /listening on (\S+)/.exec(loki.output()) : null;
      return match?.[1];
    })();

    return {
      upstreamUrl,
      upstreamPid: upstream.pid,
      proxyNodeOptions: options.proxyEnv?.NODE_OPTIONS ?? nodeOptions,
      sinkPids,
      targets,
      recordPath,
      async settleRecords(timeoutMs) {
        if (proxyUrl === undefined)
          return { enqueued: 0, shipped: 0, dropped: 0 };
        const deadline = Date.now() + timeoutMs;
        let counts: RecordCounts;
        for (;;) {
          const text = await metricsText(proxyUrl);
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
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
