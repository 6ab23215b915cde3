// The process logger (the one module-level singleton STYLE allows is built here, by main.ts). Operational logs
// go to stdout and, when LOKI_URL is set, best-effort to Loki through pino-loki with log_type="app".
// Analytics records never go through this logger: pino-loki drops batches on any failure
// (reference/observability.md §1.4); records use the outbox and shipper instead.
//
// Both destinations run in-process rather than in pino's transport thread: a thread is a V8 isolate of its own
// (~40 MB of RSS measured), and operational logs are a few lines a minute. The analytics thread relays its
// lines here (relayLogLine) for the same reason.
import pino, { type Logger } from "pino";
import { pinoLoki } from "pino-loki";
import type { Config } from "./config.ts";

export type { Logger };

export function createLogger(
  config: Pick<Config, "logLevel" | "loki">,
): Logger {
  const options = { level: config.logLevel, base: null };
  if (!config.loki.url) return pino(options);
  const loki = pinoLoki({
    host: config.loki.url,
    labels: {
      service_name: "ollama-proxy",
      log_type: "app",
      env: config.loki.env,
    },
    headers: { ...config.loki.headers },
    batching: { interval: 2, maxBufferSize: 10_000 },
    timeout: 10_000,
    // Explicit: pino-loki 3 turns a `meta` field into structured metadata by default.
    structuredMetaKey: false,
    silenceErrors: true,
  });
  return pino(
    options,
    pino.multistream([
      {
        level: config.logLevel,
        stream: pino.destination({ fd: 1, sync: false }),
      },
      { level: config.logLevel, stream: loki },
    ]),
  );
}

/** A logger whose lines go to `send` (another thread's logger writes them: relayLogLine). */
export function createRelayLogger(
  level: Config["logLevel"],
  send: (line: string) => void,
): Logger {
  return pino({ level, base: null }, { write: send });
}

/** Logs a line written by createRelayLogger again, at its level, with its fields. */
export function relayLogLine(logger: Logger, line: string): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const { level, time: _time, msg, ...fields } = entry;
  const label =
    typeof level === "number" ? logger.levels.labels[level] : undefined;
  if (label === undefined) return;
  const log = logger[label as pino.Level] as pino.LogFn | undefined;
  log?.call(logger, fields, typeof msg === "string" ? msg : undefined);
}
