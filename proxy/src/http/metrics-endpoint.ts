// GET /metrics in the Prometheus text format, from the injected source (never prom-client's global registry).
import type { Request, Response } from "express";

/** What /metrics serves: a prom-client Registry, or several summed (metrics/sources.ts). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export function createMetricsEndpoint(source: MetricsSource) {
  return async (_req: Request, res: Response): Promise<void> => {
    res.setHeader("Content-Type", source.contentType);
    res.end(await source.metrics());
  };
}
