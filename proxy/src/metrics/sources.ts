// One /metrics over two registries: the main thread's and the analytics delivery thread's. Each series is only
// ever moved in one of the threads (the other holds it at zero): a metric only one side has, or has moved, passes
// through unchanged, exemplars included; one both moved is summed (prom-client's AggregatorRegistry). Their own
// aggregators (process_start_time's `omit`, event-loop lag's `min`) are meant for cluster workers, not used here.
// Rendered as Prometheus text, or as OpenMetrics, the only format that carries exemplars (trace ids).
import {
  AggregatorRegistry,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
  type RegistryContentType,
} from "prom-client";
import type { MetricsSource } from "../http/metrics-endpoint.ts";

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** A registry that serves `metrics` as they are, in the given format. */
function registryOf(
  metrics: MetricsJson,
  openMetrics: boolean,
): Registry<RegistryContentType> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(
    openMetrics
      ? Registry.OPENMETRICS_CONTENT_TYPE
      : Registry.PROMETHEUS_CONTENT_TYPE,
  );
  for (const metric of metrics) {
    // OpenMetrics names a counter's family without `_total` (its sample keeps it); prom-client renames only the
    // metric objects it built itself.
    const json =
      openMetrics && String(metric.type) === "counter"
        ? { ...metric, name: metric.name.replace(/_total$/, "") }
        : metric;
    registry.registerMetric({ ...json, get: () => json } as never);
  }
  return registry;
}

/**
 * `others` answers with the other registries' metrics, or undefined when one cannot answer in time: /metrics then
 * serves what it has rather than failing the scrape.
 */
export function combinedMetrics(
  main: Registry<RegistryContentType>,
  others: () => Promise<MetricsJson | undefined>,
): MetricsSource {
  const merged = async (): Promise<MetricsJson> => {
    const [own, other = []] = await Promise.all([
      main.getMetricsAsJSON() as Promise<MetricsJson>,
      others(),
    ]);
    if (other.length === 0) return own;
    // A metric one side never moved (all zero, or no series yet) is the other side's as it is: exemplars,
    // which summing would drop, survive.
    const idle = (metric: MetricsJson[number]) =>
      metric.values.every((value) => value.value === 0);
    const otherByName = new Map(other.map((metric) => [metric.name, metric]));
    const ownNames = new Set(own.map((metric) => metric.name));
    const result: MetricsJson = [];
    const toSum: Array<[MetricsJson[number], MetricsJson[number]]> = [];
    for (const mine of own) {
      const theirs = otherByName.get(mine.name);
      if (!theirs || idle(theirs)) result.push(mine);
      else if (idle(mine)) result.push(theirs);
      else toSum.push([mine, theirs]);
    }
    if (toSum.length > 0) {
      const summed = (await AggregatorRegistry.aggregate([
        toSum.map(([mine]) => ({ ...mine, aggregator: "sum" as const })),
        toSum.map(([, theirs]) => ({ ...theirs, aggregator: "sum" as const })),
      ]).getMetricsAsJSON()) as MetricsJson;
      result.push(...summed);
    }
    result.push(...other.filter((metric) => !ownNames.has(metric.name)));
    return result;
  };
  return {
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    openMetricsContentType: Registry.OPENMETRICS_CONTENT_TYPE,
    async metrics() {
      return registryOf(await merged(), false).metrics();
    },
    async openMetrics() {
      return registryOf(await merged(), true).metrics();
    },
  };
}
