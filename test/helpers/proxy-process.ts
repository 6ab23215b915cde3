// Runs the real proxy (node proxy/src/main.ts) as a child process, the way a user runs it, and collects what it
// writes: JSON log lines and, without LOKI_URL, one analytics record per request on stdout.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { childEnv } from "./child-env.ts";
import { freePort } from "./free-port.ts";
import { waitFor } from "./wait-for.ts";

const MAIN = fileURLToPath(new URL("../../proxy/src/main.ts", import.meta.url));

export interface ProxyProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Every JSON line written to stdout (logs have pino's numeric `level`, records a `request_id`). */
  readonly lines: Array<Record<string, unknown>>;
  readonly stderr: () => string;
  records(): Array<Record<string, unknown>>;
  recordFor(requestId: string): Promise<Record<string, unknown>>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startProxy(
  env: Record<string, string> = {},
): Promise<ProxyProcess> {
  const port = env.PROXY_PORT ? Number(env.PROXY_PORT) : await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: childEnv({
      PROXY_HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      POLL_INTERVAL_MS: "500",
      ...env,
      PROXY_PORT: String(port),
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  let stdoutTail = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    const parts = (stdoutTail + text).split("\n");
    stdoutTail = parts.pop() ?? "";
    for (const part of parts) {
      if (!part.trim()) continue;
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: part });
      }
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (text: string) => {
    stderr += text;
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);

  await waitFor(
    () => {
      if (child.exitCode !== null)
        throw new Error(`proxy exited early (${child.exitCode}): ${stderr}`);
      return lines.some((line) => line.msg === "ollama-proxy listening");
    },
    { timeoutMs: 10_000, message: "proxy did not start" },
  );

  const records = () =>
    lines.filter(
      (line) =>
        typeof line.request_id === "string" && typeof line.level !== "number",
    );
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    lines,
    stderr: () => stderr,
    records,
    recordFor: (requestId) =>
      waitFor(
        () => records().find((record) => record.request_id === requestId),
        {
          timeoutMs: 5000,
          message: `no record for ${requestId}`,
        },
      ),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
