// Process entry: loadConfig → build dependencies → listen → graceful shutdown. Misconfiguration exits 2 with one
// line per bad variable; runtime faults are logged and counted, never fatal to the traffic being proxied.
import http from "node:http";
import { hostname } from "node:os";
import type { AddressInfo } from "node:net";
import { Registry, type RegistryContentType } from "prom-client";
import { createApp, createMetricsApp, isOwnRoute } from "./app.ts";
import { createAccessControl } from "./access/access-control.ts";
import { loadSettings, type Config } from "./config.ts";
import { ConfigError } from "./settings.ts";
import { createClientIpResolver } from "./http/client-ip.ts";
import { createAnalyticsRouter } from "./analytics-api/routes.ts";
import { createHostPolicy } from "./http/allowed-hosts.ts";
import type { ExchangeSummary } from "./exchange/outcome.ts";
import { createExchangeOwner } from "./exchange/owner.ts";
import { createBackendPool } from "./backends/pool.ts";
import type { SpanExport, SpanExportData } from "./tracing/span-export.ts";
import { refusalOf } from "./http/refusal.ts";
import { parseRequestTarget } from "./upstream/request-target.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createMetrics, type Metrics } from "./metrics/definitions.ts";
import { createModelAllowList } from "./metrics/model-label.ts";
import { initializeRequestMetrics, recordExchange } from "./metrics/record.ts";
import { createRecorder, type Recorder } from "./records/recorder.ts";
import { categorizePrompt } from "./records/category.ts";
import { startAnalyticsThread } from "./records/analytics-thread.ts";
import {
  createAnalyticsPipeline,
  type AnalyticsPipeline,
  type AnalyticsPipelineOptions,
} from "./delivery/pipeline.ts";
import { combinedMetrics, type MetricsJson } from "./metrics/sources.ts";

const VERSION = "0.1.0";
/** Loki stream labels of the analytics records (never model, client or prompt: they are unbounded). */
const RECORD_STREAM = { service_name: "ollama-proxy", log_type: "request" };

function readConfig(): ReturnType<typeof loadSettings> {
  try {
    return loadSettings(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems)
      process.stderr.write(`ollama-proxy: invalid setting ${problem}\n`);
    process.exit(2);
  }
}

interface Recording {
  readonly recorder: Recorder;
  readonly lifecycle: Pick<AnalyticsPipeline, "flush" | "close">;
  /** The analytics thread's metrics, summed into /metrics (none without the thread). */
  readonly threadMetrics: () => Promise<MetricsJson | undefined>;
  /** Tracing on without the analytics thread: spans are exported here, a finish hook of the request thread. */
  readonly spans: SpanExport | undefined;
}

/**
 * With Loki, records (and spans, tracing on) are built and shipped on a thread of their own; without, each record
 * is one stdout line and each span is exported, here.
 */
async function startRecording(
  config: Config,
  options: AnalyticsPipelineOptions,
  deps: {
    metrics: Metrics;
    logger: Logger;
    clientLabel: boolean;
    tracing: SpanExportData | undefined;
  },
): Promise<Recording> {
  const { metrics, logger } = deps;
  if (config.loki.url) {
    const thread = startAnalyticsThread(
      {
        config,
        pipeline: options,
        clientLabel: deps.clientLabel,
        tracing: deps.tracing,
      },
      { metrics, logger },
    );
    return {
      recorder: thread,
      lifecycle: thread,
      threadMetrics: () => thread.metricsJson(2000),
      spans: undefined,
    };
  }
  const stdout = createAnalyticsPipeline(options, { metrics, logger });
  return {
    recorder: createRecorder(config, {
      metrics,
      logger,
      enqueue: (envelope) => stdout.enqueue(envelope),
      categorize: categorizePrompt,
    }),
    lifecycle: stdout,
    threadMetrics: () => Promise.resolve(undefined),
    spans:
      deps.tracing &&
      (await import("./tracing/span-export.ts")).spanExportOf(
        deps.tracing,
        config,
        metrics,
        logger,
      ),
  };
}

function listen(
  server: http.Server,
  port: number,
  host: string,
  setting: string,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === "EADDRINUSE"
          ? ` (is Ollama or another proxy still on it? set ${setting})`
          : "";
      reject(
        new Error(
          `cannot listen on ${host}:${port}: ${error.code ?? error.message}${hint}`,
        ),
      );
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}

async function main(): Promise<void> {
  const {
    config,
    access: accessConfig,
    tracing: tracingSettings,
  } = readConfig();
  const logger = createLogger(config);
  // OpenMetrics: the type prom-client needs for exemplars (/metrics still serves text to scrapers that ask for it).
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const metrics = createMetrics(registry, {
    clientLabel: accessConfig.metricsClientLabel,
  });
  const access = createAccessControl(accessConfig, {
    metrics,
    logger,
    redisUrl: config.redisUrl,
    adminToken: config.analyticsToken,
  });
  initializeRequestMetrics(metrics);
  metrics.buildInfo.set({ version: VERSION, node_version: process.version }, 1);
  const models = createModelAllowList();
  // Stable across container restarts (hostname = container id, pid 1), so a restarted replica resumes its own
  // pending records at once instead of waiting for another to claim them.
  const replicaName = config.consumerName ?? `${hostname()}-${process.pid}`;
  const backends = createBackendPool(
    {
      backends: config.backends,
      idleTimeoutMs: config.upstreamTimeoutMs,
      pollIntervalMs: config.pollIntervalMs,
      pollTimeoutMs: 5000,
      affinity: config.affinity.on,
      shareLoad: config.redisUrl
        ? {
            redisUrl: config.redisUrl,
            replica: replicaName,
            intervalMs: 500,
          }
        : undefined,
    },
    { metrics, models, logger },
  );
  const pipelineOptions: AnalyticsPipelineOptions = {
    redisUrl: config.redisUrl,
    lokiUrl: config.loki.url,
    lokiLabels: { ...RECORD_STREAM, env: config.loki.env },
    lokiHeaders: { ...config.loki.headers },
    streamKey: "ollama-proxy:records",
    consumerGroup: "shipper",
    consumerName: replicaName,
    outboxMax: config.outboxMax,
    memoryMax: config.memoryMax,
    batchMaxRecords: config.loki.batchMaxRecords,
    batchMaxBytes: config.loki.batchMaxBytes,
    batchWaitMs: config.loki.batchWaitMs,
    pushTimeoutMs: config.loki.pushTimeoutMs,
    retryBaseMs: 500,
    retryMaxMs: config.loki.retryMaxMs,
    claimIdleMs: config.claimIdleMs,
    maxLineBytes: config.loki.maxLineBytes,
  };
  const recording = await startRecording(config, pipelineOptions, {
    metrics,
    logger,
    clientLabel: accessConfig.metricsClientLabel,
    tracing: tracingSettings.enabled
      ? { settings: tracingSettings, version: VERSION }
      : undefined,
  });
  const metricsSource = combinedMetrics(registry, recording.threadMetrics);
  const exchangeMetricOptions = {
    clientLabel: accessConfig.metricsClientLabel,
    clientLabelOf: (client: string) => access.clientLabelOf(client),
  };
  const hostAllowed = createHostPolicy({ allowedHosts: config.allowedHosts });
  /** PRICING_FILE: the exchange's estimated cost, for the cost metric and the record. */
  const costOf = (summary: ExchangeSummary) =>
    access.costOf(
      summary.model,
      summary.tap?.usage.promptTokens ?? 0,
      summary.tap?.usage.completionTokens ?? 0,
    );
  // OpenTelemetry's packages are loaded only when tracing is configured: ~8 MB of RSS per thread and ~90 ms of
  // start-up that a proxy with tracing off (the default) does not pay (docs/performance.md, "Tracing's packages").
  const traceStarter = tracingSettings.enabled
    ? (await import("./tracing/trace-start.ts")).createTraceStarter(
        tracingSettings,
      )
    : undefined;
  const handler = createExchangeOwner(
    {
      upstreamTimeoutMs: config.upstreamTimeoutMs,
      affinityHeader: config.affinity.header,
      maxBodyBytes: config.maxBodyBytes,
      injectStreamUsage: config.injectStreamUsage,
      // The text kept per request in memory; records cut it further per CAPTURE_* mode.
      maxCaptureChars:
        config.capture.prompts === "full" || config.capture.responses === "full"
          ? config.loki.maxLineBytes
          : config.capture.maxChars,
      clientHeader: config.clientHeader,
    },
    {
      backends,
      logger,
      metrics,
      models,
      clientIpOf: createClientIpResolver(config.trustedProxies),
      admit: (context) => access.admit(context),
      stripCredentials: (headers) => access.stripCredentials(headers),
      resolveAlias: (model) => access.resolveAlias(model),
      hostAllowed,
      tracing: traceStarter,
      // Separate hooks: a fault in one consumer costs only its own view of the exchange.
      finishHooks: [
        ...(recording.spans
          ? [(summary: ExchangeSummary) => recording.spans?.finish(summary)]
          : []),
        (summary) =>
          recordExchange(
            metrics,
            summary,
            exchangeMetricOptions,
            costOf(summary),
          ),
        (summary) => recording.recorder.record(summary, costOf(summary)),
      ],
      onModelsChanged: () => backends.refreshModels(),
    },
  );

  const analytics = createAnalyticsRouter(
    {
      lokiUrl: config.loki.url,
      lokiHeaders: { ...config.loki.headers },
      selector: { ...RECORD_STREAM, env: config.loki.env },
      queryTimeoutMs: 30_000,
      maxLimit: 5000,
    },
    { logger },
  );
  const serveMetrics = config.metricsPort === undefined;
  const app = createApp(
    { backends, serveMetrics },
    {
      metrics: metricsSource,
      logger,
      analytics,
      authorizeAnalytics: (req) => access.authorizeAdmin(req.headers),
    },
  );
  // Streams may last hours: no socket idle timeout. Slow request headers and bodies are cut by Node's
  // headersTimeout/requestTimeout, which cover receiving the request only, never the response. Node checks
  // them every connectionsCheckingInterval (30 s by default), so the interval follows the timeouts.
  const headersTimeout = Math.min(
    config.clientHeadersTimeoutMs,
    config.clientRequestTimeoutMs,
  );
  const server = http.createServer(
    {
      noDelay: true,
      headersTimeout,
      requestTimeout: config.clientRequestTimeoutMs,
      connectionsCheckingInterval: Math.min(
        30_000,
        Math.max(100, Math.floor(headersTimeout / 4)),
      ),
    },
    (req, res) => {
      // Parsed once: a target that is not canonical never reaches the proxy's own routes (the handler refuses
      // it with 400 and records it).
      const target = parseRequestTarget(req.url ?? "/");
      if (
        target.ok &&
        isOwnRoute(req.method, target.path, serveMetrics) &&
        !refusalOf(req, req.method ?? "GET", target, hostAllowed)
      ) {
        req.url = target.originForm;
        app(req, res);
      } else handler.handle(req, res, target);
    },
  );
  server.timeout = 0;
  const address = await listen(server, config.port, config.host, "PROXY_PORT");
  let metricsServer: http.Server | undefined;
  if (config.metricsPort !== undefined) {
    metricsServer = http.createServer(
      createMetricsApp(metricsSource, hostAllowed),
    );
    await listen(
      metricsServer,
      config.metricsPort,
      config.host,
      "METRICS_PORT",
    );
  }
  logger.info(
    {
      address: `${address.address}:${address.port}`,
      backends: config.backends.map((b) => `${b.name}=${b.url}`),
      metrics_port: config.metricsPort,
      traces: tracingSettings.enabled ? tracingSettings.endpoint : "off",
    },
    "ollama-proxy listening",
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info(
      { signal, in_flight: handler.active, grace_ms: config.shutdownGraceMs },
      "draining",
    );
    server.close();
    metricsServer?.close();
    // Keep-alive connections that finish their response while draining are closed as they go idle.
    const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
    const remaining = await handler.drain(config.shutdownGraceMs);
    clearInterval(idleSweep);
    if (remaining > 0)
      logger.warn(
        { remaining },
        "grace period over: closing the remaining connections",
      );
    server.closeAllConnections();
    // Records of the drained requests go to Redis (or, without Redis, to Loki) before the process ends.
    await recording.lifecycle.flush(
      Math.max(1000, Math.min(10_000, config.shutdownGraceMs)),
    );
    await recording.lifecycle.close();
    await recording.spans?.shutdown(2000);
    handler.close();
    await access.close();
    logger.info("stopped");
    logger.flush();
    setTimeout(() => process.exit(0), 50).unref();
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // Re-read API_KEYS_FILE (and file-based MODEL_ALIASES, PRICING_FILE); a bad file keeps the previous version.
  process.on("SIGHUP", () => void access.reload());
  process.on("uncaughtException", (error) =>
    logger.error({ err: error }, "uncaught exception (kept running)"),
  );
  process.on("unhandledRejection", (error) =>
    logger.error({ err: error }, "unhandled rejection (kept running)"),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `ollama-proxy: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
