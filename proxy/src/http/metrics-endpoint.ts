// GET /metrics in the Prometheus text format, from the injected registry (never prom-client's global one).
import type { Request, Response } from "express";
import type { Registry } from "prom-client";

export function createMetricsEndpoint(registry: Registry) {
  return async (_req: Request, res: Response): Promise<void> => {
    res.setHeader("Content-Type", registry.contentType);
    res.end(await registry.metrics());
  };
}
