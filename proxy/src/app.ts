// Express wiring of the routes the proxy serves itself. Everything else goes to the forwarding handler, so the
// only paths shadowed are these (GET/HEAD only): /metrics (unless METRICS_PORT), /healthz, /readyz, /analytics.
import type { IncomingMessage, ServerResponse } from "node:http";
import express, {
  type NextFunction,
  type Request,
  type Response,
  type Router,
} from "express";
import type { HostPolicy } from "./http/allowed-hosts.ts";
import type { Admission } from "./exchange/admission.ts";
import type { Logger } from "./logger.ts";
import { createReadyz, healthz } from "./http/health.ts";
import {
  createMetricsEndpoint,
  type MetricsSource,
} from "./http/metrics-endpoint.ts";

export interface AppOptions {
  /** The Ollama servers /readyz asks. */
  readonly backends: {
    readonly backends: readonly { name: string; url: string }[];
  };
  /** Serve /metrics on the proxy port (false when METRICS_PORT moves it elsewhere). */
  readonly serveMetrics: boolean;
}

export interface AppDeps {
  readonly metrics: MetricsSource;
  readonly logger: Logger;
  readonly analytics?: Router;
  /** Who may read /analytics (prompts and responses): with API keys on, admin keys only. */
  readonly authorizeAnalytics?: (req: Request) => Admission;
}

export type RequestListener = (
  req: IncomingMessage,
  res: ServerResponse,
) => void;

/** True for requests the proxy answers itself rather than forwarding to Ollama. `path` is canonical. */
export function isOwnRoute(
  method: string | undefined,
  path: string,
  serveMetrics: boolean,
): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  return (
    path === "/healthz" ||
    path === "/readyz" ||
    (serveMetrics && path === "/metrics") ||
    path === "/analytics" ||
    path.startsWith("/analytics/")
  );
}

export function createApp(options: AppOptions, deps: AppDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.get("/healthz", healthz);
  app.get("/readyz", createReadyz(options.backends.backends));
  if (options.serveMetrics)
    app.get("/metrics", createMetricsEndpoint(deps.metrics));
  if (deps.analytics) {
    const authorize = deps.authorizeAnalytics;
    if (authorize) {
      app.use(
        "/analytics",
        (req: Request, res: Response, next: NextFunction) => {
          const admission = authorize(req);
          if (admission.ok) return next();
          res
            .status(admission.status)
            .set(admission.headers ?? {})
            .json({ error: admission.message });
        },
      );
    }
    app.use("/analytics", deps.analytics);
  }
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: "not found" });
  });
  app.use(
    (error: unknown, _req: Request, res: Response, _next: NextFunction) => {
      deps.logger.error({ err: error }, "internal error in a proxy route");
      if (!res.headersSent)
        res.status(500).json({ error: "internal proxy error" });
    },
  );
  return app;
}

/** A server that only answers /metrics (METRICS_PORT), to the names the host policy allows. */
export function createMetricsApp(
  source: MetricsSource,
  hostAllowed: HostPolicy,
): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (hostAllowed(req.headers.host)) return next();
    res.status(403).json({ error: "host not allowed" });
  });
  app.get("/metrics", createMetricsEndpoint(source));
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: "not found" });
  });
  return app;
}
