// Starts a real redis-server on a free loopback port with its own data directory, so tests can SIGKILL it and
// restart it on the same port with the same data (AOF on by default, RDB snapshots off).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port.ts";

export interface RedisServerOptions {
  /** AOF persistence (default true): with it, acknowledged writes survive a SIGKILL. */
  appendonly?: boolean;
  /** Fixed port; default: a free one. */
  port?: number;
  /** Further redis-server arguments, e.g. ["--maxmemory", "10mb"]. */
  args?: string[];
  /** Binary; default $REDIS_SERVER_BIN or redis-server on PATH. */
  bin?: string;
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Process id of the running server (undefined while stopped). */
  readonly pid: number | undefined;
  /** Sends a signal (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and data directory (after kill). */
  restart(): Promise<void>;
  /** Stops the server and removes its data directory. */
  close(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test forgets close(): no redis-server outlives the test process.
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

/** PING over a raw socket; true on +PONG (false while refusing, loading the AOF, …). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    let answer = "";
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => {
      answer += data.toString();
      if (answer.includes("\r\n")) finish(answer.startsWith("+PONG"));
    });
  });
}

export async function startRedisServer(
  options: RedisServerOptions = {},
): Promise<RedisServer> {
  installExitHook();
  const bin = options.bin ?? process.env.REDIS_SERVER_BIN ?? "redis-server";
  const dir = await mkdtemp(join(tmpdir(), "redis-test-"));
  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let output = "";

  const args = () => [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    options.appendonly === false ? "no" : "yes",
    "--dir",
    dir,
    "--daemonize",
    "no",
    "--logfile",
    "",
    ...(options.args ?? []),
  ];

  async function launch(): Promise<void> {
    output = "";
    // redis-server cannot start under libfaketime (make test-future): it keeps the real clock, as a Redis
    // beside the proxy keeps its own.
    const { LD_PRELOAD: _preload, ...env } = process.env;
    const proc = spawn(bin, args(), { env, stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    live.add(proc);
    const keep = (data: Buffer) => {
      output = (output + data.toString()).slice(-4000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    let exited = false;
    proc.once("exit", () => {
      exited = true;
      live.delete(proc);
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`redis-server exited at start:\n${output}`);
      if (await ping(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    proc.kill("SIGKILL");
    throw new Error(`redis-server did not answer PING within 10 s:\n${output}`);
  }

  // A free port can be taken between the probe and the bind; pick another one then (first start only).
  for (let attempt = 0; ; attempt++) {
    try {
      await launch();
      break;
    } catch (error) {
      if (
        options.port === undefined &&
        attempt < 4 &&
        /Address already in use/.test(output)
      ) {
        port = await freePort();
        continue;
      }
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async function kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const proc = child;
    if (
      proc === undefined ||
      proc.exitCode !== null ||
      proc.signalCode !== null
    )
      return;
    const exited = new Promise<void>((resolve) =>
      proc.once("exit", () => resolve()),
    );
    proc.kill(signal);
    // A graceful stop that hangs (e.g. a stuck AOF rewrite) must not hang the test run.
    const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    child = undefined;
  }

  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    get pid() {
      return child?.pid;
    },
    kill,
    async restart() {
      await kill("SIGKILL");
      await launch();
    },
    async close() {
      await kill("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}
