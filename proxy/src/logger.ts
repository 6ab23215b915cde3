// The process logger (the one module-level singleton STYLE allows is built here, by main.ts). Operational logs
// go to stdout and, when LOKI_URL is set, best-effort to Loki through pino-loki with log_type="app".
// Analytics records never go through this logger: pino-loki drops batches on any failure
// (reference/observability.md §1.4); records use the outbox and shipper instead.
import pino, { type Logger } from "pino";
import type { Config } from "./config.ts";

export type { Logger };

export function createLogger(
  config: Pick<Config, "logLevel" | "loki">,
): Logger {
  const options = { level: config.logLevel, base: null };
  if (!config.loki.url) return pino(options);
  const transport = pino.transport({
    targets: [
      {
        target: "pino/file",
        level: config.logLevel,
        options: { destination: 1 },
      },
      {
        target: "pino-loki",
        level: config.logLevel,
        options: {
          host: config.loki.url,
          labels: {
            service_name: "ollama-proxy",
            log_type: "app",
            env: config.loki.env,
          },
          headers: config.loki.headers,
          batching: { interval: 2, maxBufferSize: 10_000 },
          timeout: 10_000,
          // Explicit: pino-loki 3 turns a `meta` field into structured metadata by default.
          structuredMetaKey: false,
          silenceErrors: true,
        },
      },
    ],
  });
  return pino(options, transport);
}
