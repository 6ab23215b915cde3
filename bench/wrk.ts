// Runs wrk (one thread, keep-alive connections) with bench/wrk-report.lua and reads its JSON summary line.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateBody } from "./scenarios.ts";
import type { Target } from "./targets.ts";

export interface WrkOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly method?: string;
  readonly bodyFile?: string;
  readonly cpus?: string | undefined;
  readonly bin?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly bytesPerSecond: number;
  /** Connect, read, write and timeout errors plus non-2xx/3xx answers. */
  readonly errors: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
    readonly mean: number;
  };
}

interface WrkJson {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: Record<string, number>;
  latencyUs: Record<
    "min" | "mean" | "max" | "p50" | "p90" | "p99" | "p999",
    number
  >;
}

const SCRIPT = fileURLToPath(new URL("./wrk-report.lua", import.meta.url));

/** A wrk run against one target, as the scenarios ask for it (bench/run.ts binds the rest of the options). */
export type WrkAgainst = (
  target: Target,
  path: string,
  connections: number,
  seconds: number,
  bodyFile: string | undefined,
) => Promise<WrkResult>;

/**
 * How the tools that load one endpoint (thread-cpu.ts, records-under-load.ts) ask for it: GET for /api/tags, any
 * other endpoint POSTed with scenario 1's generate body, from a temporary file that `remove` deletes.
 */
export async function endpointRequest(endpoint: string): Promise<{
  readonly options: Pick<WrkOptions, "method" | "bodyFile">;
  remove(): Promise<void>;
}> {
  if (endpoint === "/api/tags")
    return { options: {}, remove: () => Promise.resolve() };
  const dir = await mkdtemp(join(tmpdir(), "bench-body-"));
  const bodyFile = join(dir, "body.json");
  await writeFile(bodyFile, generateBody(8));
  return {
    options: { method: "POST", bodyFile },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

export function runWrk(options: WrkOptions): Promise<WrkResult> {
  const bin = options.bin ?? "wrk";
  const args = [
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--timeout",
    "30s",
    "-s",
    SCRIPT,
    options.url,
  ];
  const argv = options.cpus
    ? ["taskset", ["-c", options.cpus, bin, ...args]]
    : [bin, args];
  const child = spawn(argv[0] as string, argv[1] as string[], {
    env: {
      ...process.env,
      BENCH_METHOD: options.method ?? "GET",
      BENCH_BODY_FILE: options.bodyFile ?? "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (data: Buffer) => (out += data.toString()));
  child.stderr.on("data", (data: Buffer) => (out += data.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("BENCH_JSON "));
      if (code !== 0 || !line) {
        reject(new Error(`wrk failed (exit ${code}):\n${out}`));
        return;
      }
      const json = JSON.parse(line.slice("BENCH_JSON ".length)) as WrkJson;
      const seconds = json.durationUs / 1e6;
      const ms = (us: number) => us / 1000;
      resolve({
        requests: json.requests,
        seconds,
        requestsPerSecond: json.requests / seconds,
        bytesPerSecond: json.bytes / seconds,
        errors: Object.values(json.errors).reduce((a, b) => a + b, 0),
        latencyMs: {
          p50: ms(json.latencyUs.p50),
          p90: ms(json.latencyUs.p90),
          p99: ms(json.latencyUs.p99),
          p999: ms(json.latencyUs.p999),
          max: ms(json.latencyUs.max),
          mean: ms(json.latencyUs.mean),
        },
      });
    });
  });
}
