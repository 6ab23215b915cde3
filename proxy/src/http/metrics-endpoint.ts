// GET /metrics from the injected source (never prom-client's global registry): OpenMetrics, with exemplars, when
// the scraper asks for it (Prometheus does by default), the Prometheus text format otherwise.
import type { Request, Response } from "express";

/** What /metrics serves: the registries, summed (metrics/sources.ts). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
  readonly openMetricsContentType?: string;
  openMetrics?(): Promise<string>;
}

export function createMetricsEndpoint(source: MetricsSource) {
  return async (req: Request, res: Response): Promise<void> => {
    const accept = req.headers.accept ?? "";
    if (
      source.openMetrics &&
      source.openMetricsContentType &&
      accept.includes("application/openmetrics-text")
    ) {
      res.setHeader("Content-Type", source.openMetricsContentType);
      res.end(await source.openMetrics());
      return;
    }
    res.setHeader("Content-Type", source.contentType);
    res.end(await source.metrics());
  };
}
