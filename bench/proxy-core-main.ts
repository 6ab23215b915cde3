// "Our proxy, analytics off": the shipped exchange owner (proxy/src/exchange/owner.ts: body parsing, taps,
// in-flight gauge) wired like main.ts, but with the per-exchange work switched off. The proxy has no setting
// for this, so the benchmark builds it from the same modules instead.
// BENCH_PORT, BENCH_TARGET; BENCH_ON_EXCHANGE = none (default: no records, no request metrics) | metrics
// (request metrics only, no records); BENCH_PROXY_SRC: another copy of proxy/src to measure (experiments).
import http from "node:http";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { Registry } from "prom-client";

const src = process.env.BENCH_PROXY_SRC
  ? pathToFileURL(`${process.env.BENCH_PROXY_SRC}/`).href
  : new URL("../proxy/src/", import.meta.url).href;
// Compiled by the benchmark (bench/build.ts), the modules are .js like this file.
const extension = import.meta.url.endsWith(".js") ? ".js" : ".ts";
const load = <T>(path: string) =>
  import(new URL(path.replace(/\.ts$/, extension), src).href) as Promise<T>;
const { createClientIpResolver } =
  await load<typeof import("../proxy/src/http/client-ip.ts")>(
    "http/client-ip.ts",
  );
const { createExchangeOwner } =
  await load<typeof import("../proxy/src/exchange/owner.ts")>(
    "exchange/owner.ts",
  );
const { createBackendPool } =
  await load<typeof import("../proxy/src/backends/pool.ts")>(
    "backends/pool.ts",
  );
const { createMetrics } = await load<
  typeof import("../proxy/src/metrics/definitions.ts")
>("metrics/definitions.ts");
const { createModelAllowList } = await load<
  typeof import("../proxy/src/metrics/model-label.ts")
>("metrics/model-label.ts");
const { recordExchange } =
  await load<typeof import("../proxy/src/metrics/record.ts")>(
    "metrics/record.ts",
  );

const port = Number(process.env.BENCH_PORT ?? "0");
const target = process.env.BENCH_TARGET ?? "http://127.0.0.1:11435";
const withMetrics = process.env.BENCH_ON_EXCHANGE === "metrics";

const registry = new Registry();
const metrics = createMetrics(registry);
const models = createModelAllowList();
const logger = pino({ level: "warn", base: null });
const handler = createExchangeOwner(
  {
    // main.ts defaults (config.ts): no idle timeout, 100 MiB bodies, usage injection on, 8192 captured chars.
    upstreamTimeoutMs: 0,
    maxBodyBytes: 100 * 1024 * 1024,
    injectStreamUsage: true,
    maxCaptureChars: 8192,
    clientHeader: undefined,
  },
  {
    backends: createBackendPool(
      {
        backends: [
          { name: "default", url: target, weight: 1, maxConcurrent: undefined },
        ],
        idleTimeoutMs: 0,
        pollIntervalMs: 15_000,
        pollTimeoutMs: 5000,
      },
      { metrics, models, logger },
    ),
    logger,
    metrics,
    models,
    clientIpOf: createClientIpResolver([]),
    finishHooks: withMetrics
      ? [
          (summary) =>
            recordExchange(metrics, summary, {
              clientLabel: false,
              clientLabelOf: () => "",
            }),
        ]
      : [],
  },
);

const server = http.createServer({ noDelay: true }, (req, res) =>
  handler.handle(req, res),
);
server.timeout = 0;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  console.log(`proxy-core listening on http://127.0.0.1:${bound}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  handler.close();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
