// Starts what a run measures, once, on loopback: the upstream (emulator) and each way to reach it: direct, nginx,
// a bare http-proxy-3 pass-through, our proxy as shipped (with its record sinks, shipped-proxy.ts), the same with
// tracing on, the same with three backends, and our proxy with the record path off.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../test/helpers/free-port.ts";
import type { RedisServer } from "../test/helpers/redis-server.ts";
import { compileTargets, type CompiledTargets } from "./build.ts";
import { startChild, type Child } from "./processes.ts";
import {
  startShippedProxy,
  type RecordCounts,
  type ShippedProxy,
} from "./shipped-proxy.ts";

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
  "undici-pipe",
  "passthrough",
  "proxy",
  "proxy-core",
  "proxy-metrics",
  "proxy-traced",
  "proxy-3-backends",
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** What `npm run bench` measures unless --targets says otherwise (node-pipe, undici-pipe and proxy-metrics are extra baselines). */
export const DEFAULT_TARGETS: readonly TargetName[] = [
  "direct",
  "nginx",
  "passthrough",
  "proxy",
  "proxy-core",
  "proxy-traced",
  "proxy-3-backends",
];

export const TARGET_LABELS: Record<TargetName, string> = {
  direct: "direct",
  nginx: "nginx",
  "node-pipe": "Node http pipe",
  "undici-pipe": "undici pipe",
  passthrough: "http-proxy-3 bare",
  proxy: "our proxy",
  "proxy-core": "our proxy, analytics off",
  "proxy-metrics": "our proxy, metrics only",
  "proxy-traced": "our proxy, tracing on (100 %)",
  "proxy-3-backends": "our proxy, 3 backends",
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
  /** Waits until a shipped proxy has shipped (or dropped) every record it enqueued; returns the counts. */
  settleRecords(name: TargetName, timeoutMs: number): Promise<RecordCounts>;
  close(): Promise<void>;
}

export type { RecordCounts };

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

/** `--proxy-env K=V,...` → the shipped proxy's extra environment; a pair without a name is refused. */
export function parseProxyEnv(
  text: string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of (text ?? "").split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    if (eq < 1)
      throw new Error(`--proxy-env expects KEY=VALUE pairs, got "${pair}"`);
    env[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return env;
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

/**
 * The stack for a tool that measures our proxies alone (thread-cpu.ts, records-under-load.ts): the upstream, Redis,
 * the sinks and `targets`, unpinned, optionally from another copy of proxy/src and with extra environment.
 */
export function startProxyStack(
  targets: readonly TargetName[],
  options: { proxySrc?: string | undefined; proxyEnv?: Record<string, string> },
): Promise<Stack> {
  return startStack({
    targets,
    cpus: {},
    redis: true,
    // Neither is used: no nginx target, no paced scenario.
    nginxBin: "nginx",
    paces: [],
    proxySrc: options.proxySrc && resolve(options.proxySrc),
    proxyEnv: options.proxyEnv,
  });
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const children: Child[] = [];
  const redisServers: RedisServer[] = [];
  const shippedProxies = new Map<TargetName, ShippedProxy>();
  let nginxDir: string | undefined;
  let compiled: CompiledTargets | undefined;
  const close = async () => {
    // Targets before the sinks they flush into (records, spans), so that they exit (and write their profiles)
    // without waiting on a sink that is already gone.
    const sinks = /fake-loki|otlp-sink|^upstream$/;
    await Promise.all(
      children.filter((c) => !sinks.test(c.name)).map((c) => c.stop()),
    );
    await Promise.all(
      children.filter((c) => sinks.test(c.name)).map((c) => c.stop()),
    );
    await Promise.all(redisServers.map((redis) => redis.close()));
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
        case "undici-pipe":
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
        case "proxy":
        case "proxy-traced":
        case "proxy-3-backends": {
          const shipped = await startShippedProxy({
            name,
            node,
            args: [...nodeFlags(name), join(compiled.proxyDir, "main.js")],
            upstreamUrl,
            nodeOptions,
            redis: options.redis,
            cpus: options.cpus,
            env: options.proxyEnv,
          });
          children.push(...shipped.children);
          redisServers.push(...shipped.redis);
          sinkPids.push(...shipped.sinkPids);
          shippedProxies.set(name, shipped);
          recordPath = shipped.recordPath;
          targets.push(shipped.target);
          break;
        }
      }
    }

    return {
      upstreamUrl,
      upstreamPid: upstream.pid,
      proxyNodeOptions: options.proxyEnv?.NODE_OPTIONS ?? nodeOptions,
      sinkPids,
      targets,
      recordPath,
      async settleRecords(name, timeoutMs) {
        const shipped = shippedProxies.get(name);
        return shipped
          ? shipped.settleRecords(timeoutMs)
          : {
              enqueued: 0,
              shipped: 0,
              dropped: 0,
              spansExported: 0,
              spansDropped: 0,
            };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
