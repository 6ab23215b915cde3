// One /metrics over two registries: the main thread's and the analytics delivery thread's. prom-client's
// AggregatorRegistry sums the metrics both have, which is right here because each series is only ever moved in
// one of the threads (the other holds it at zero). Metrics only one side has pass through unchanged: their own
// aggregators (process_start_time's `omit`, event-loop lag's `min`) are meant for summing cluster workers.
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from "prom-client";
import type { MetricsSource } from "../http/metrics-endpoint.ts";

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * `others` answers with the other registries' metrics, or undefined when one cannot answer in time: /metrics then
 * serves what it has rather than failing the scrape.
 */
export function combinedMetrics(
  main: Registry,
  others: () => Promise<MetricsJson | undefined>,
): MetricsSource {
  return {
    contentType: main.contentType,
    async metrics() {
      const [own, other] = await Promise.all([
        main.getMetricsAsJSON(),
        others(),
      ]);
      if (other === undefined || other.length === 0) return main.metrics();
      const shared = new Set(other.map((metric) => metric.name));
      const mine = own.map((metric) => ({
        ...metric,
        aggregator: shared.has(metric.name) ? "sum" : "first",
      }));
      return AggregatorRegistry.aggregate([mine, other]).metrics();
    },
  };
}
