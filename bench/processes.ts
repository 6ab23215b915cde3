// Child processes of a benchmark run: start (optionally pinned with taskset), wait until listening, stop, and
// read their CPU time and RSS from /proc. Every child is killed when the runner exits, however it exits.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { connect } from "node:net";

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** The last few KiB of stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly env?: Record<string, string | undefined>;
  /** taskset CPU list, e.g. "1"; undefined runs unpinned. */
  readonly cpus?: string | undefined;
  /** Resolves once this loopback port accepts connections. */
  readonly port?: number;
  /** Or once the output matches this. */
  readonly ready?: RegExp;
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

const live = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Last resort: no child outlives the runner.
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function startChild(
  name: string,
  command: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<Child> {
  hookExit();
  const argv = options.cpus
    ? ["taskset", ["-c", options.cpus, command, ...args]]
    : [command, [...args]];
  const proc = spawn(argv[0] as string, argv[1] as string[], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(proc);
  let output = "";
  const keep = (data: Buffer) => {
    output = (output + data.toString()).slice(-8192);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => {
    proc.once("exit", () => {
      live.delete(proc);
      resolve();
    });
  });
  const child: Child = {
    name,
    get pid() {
      return proc.pid ?? -1;
    },
    proc,
    output: () => output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`${name} exited at start:\n${output}`);
    if (options.ready && options.ready.test(output)) break;
    if (options.port !== undefined && (await canConnect(options.port))) break;
    if (options.ready === undefined && options.port === undefined) break;
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${name} did not start in time:\n${output}`);
    }
    await sleep(25);
  }
  return child;
}

export async function stopAll(children: readonly Child[]): Promise<void> {
  await Promise.all(children.map((child) => child.stop()));
}

// ---- /proc -------------------------------------------------------------------------------------

const CLOCK_TICKS = 100; // getconf CLK_TCK on Linux

/** utime + stime of one process, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  // Fields after the parenthesised command name: utime and stime are fields 14 and 15 of /proc/<pid>/stat.
  return cpuFields(pid, 11, 12);
}

/** Resident set size of one process in bytes; 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The process and its descendants (nginx's workers). */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length && i < 64; i++) {
    const parent = all[i] as number;
    try {
      for (const task of readdirSync(`/proc/${parent}/task`)) {
        const children = readFileSync(
          `/proc/${parent}/task/${task}/children`,
          "utf8",
        ).trim();
        if (children !== "") all.push(...children.split(" ").map(Number));
      }
    } catch {
      // gone
    }
  }
  return all;
}

export interface Usage {
  readonly cpuSeconds: number;
  /** CPU time over wall time, in percent of one core (200 = both cores of this machine). */
  readonly cpuPercent: number;
  readonly rssMaxMb: number;
}

/** CPU seconds of this process's exited, reaped children (wrk, the stream client): cutime + cstime. */
export function reapedChildrenCpuSeconds(): number {
  return cpuFields(process.pid, 13, 14);
}

function cpuFields(pid: number, a: number, b: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[a]) + Number(fields[b])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  // idle and iowait are not busy; steal is time another VM had this core
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
}

/** Samples CPU time and peak RSS of process trees while a measurement runs. */
export function meter(roots: readonly number[], sampleMs = 100) {
  const pids = roots.flatMap((root) => processTree(root));
  const cpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const rss = () => pids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  const startCpu = cpu();
  const startMs = performance.now();
  let rssMax = rss();
  const timer = setInterval(() => {
    rssMax = Math.max(rssMax, rss());
  }, sampleMs);
  return {
    stop(): Usage {
      clearInterval(timer);
      rssMax = Math.max(rssMax, rss());
      const seconds = (performance.now() - startMs) / 1000;
      const used = cpu() - startCpu;
      return {
        cpuSeconds: used,
        cpuPercent: seconds > 0 ? (used / seconds) * 100 : 0,
        rssMaxMb: rssMax / (1024 * 1024),
      };
    },
  };
}
