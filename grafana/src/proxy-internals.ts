// "Proxy internals": the proxy's own machinery. The analytics-record pipeline (outbox → Loki), the export of
// trace spans (proxy → Tempo), requests it refused, failures talking to Ollama, and the Node.js process.
// Prometheus only.
import {
  DashboardBuilder,
  DashboardCursorSync,
  RowBuilder,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import * as common from "@grafana/grafana-foundation-sdk/common";
import {
  STACK_TAG,
  UID,
  bars,
  fixedColor,
  proxyInstanceVariable,
  prom,
  promInstant,
  stackLinks,
  stat,
  thresholdLines,
  timeseries,
  unit,
} from "./panels.ts";

const INSTANCE = 'instance=~"$instance"';

export function proxyInternalsDashboard(): Dashboard {
  const builder = new DashboardBuilder("Proxy internals")
    .uid(UID.proxyInternals)
    .id(null)
    .description(
      "The metrics proxy itself: analytics-record pipeline to Loki, trace spans to Tempo, rejections, upstream errors, Node.js process.",
    )
    .tags([STACK_TAG, "ollama"])
    .refresh("30s")
    .time({ from: "now-3h", to: "now" })
    .timezone("browser")
    .tooltip(DashboardCursorSync.Crosshair)
    .link(stackLinks())
    .withVariable(proxyInstanceVariable());

  // ------------------------------------------------------------------------------------ record pipeline
  builder
    .withRow(new RowBuilder("Record pipeline"))
    .withPanel(
      timeseries(
        {
          title: "Records by stage",
          description:
            "Analytics records entering the outbox (enqueued), delivered to Loki (shipped), pushed again after " +
            "a failure (retried) and lost (dropped). Shipped should follow enqueued.",
        },
        unit.recordsPerSecond,
      )
        .overrideByName("enqueued", [fixedColor("blue")])
        .overrideByName("shipped", [fixedColor("green")])
        .overrideByName("retried", [fixedColor("orange")])
        .overrideByName("dropped", [fixedColor("red")])
        .withTarget(
          prom(
            `sum by (outcome) (rate(ollama_proxy_records_total{${INSTANCE}}[$__rate_interval]))`,
            "{{outcome}}",
          ),
        ),
    )
    .withPanel(
      bars(
        timeseries(
          {
            title: "Records dropped and lines Loki refused",
            description:
              "Records the proxy gave up on, by reason, and lines Loki discarded (loki_discarded_samples_total), " +
              "by reason. Both mean missing analytics; both alert.",
          },
          unit.short,
        ),
      )
        .withTarget(
          prom(
            `sum by (reason) (increase(ollama_proxy_records_dropped_total{${INSTANCE}}[$__rate_interval]))`,
            "proxy: {{reason}}",
          ),
        )
        .withTarget(
          prom(
            "sum by (reason) (increase(loki_discarded_samples_total[$__rate_interval]))",
            "loki: {{reason}}",
          ),
        ),
    )
    .withPanel(
      thresholdLines(
        timeseries(
          {
            title: "Outbox depth",
            description:
              "Records waiting to be shipped to Loki (Redis stream, or memory without Redis). Alert when above " +
              "100 and growing for 10 minutes. Backlog: finished requests whose records the analytics thread " +
              "has not built yet (it yields to forwarding on a saturated machine).",
          },
          unit.short,
        ),
        [
          ["green", null],
          ["orange", 100],
        ],
      )
        .span(6)
        .withTarget(
          prom(
            `max by (instance) (ollama_proxy_outbox_depth{${INSTANCE}})`,
            "{{instance}}",
          ),
        )
        .withTarget(
          prom(
            `max by (instance) (ollama_proxy_analytics_backlog{${INSTANCE}})`,
            "{{instance}} backlog",
          ),
        ),
    )
    .withPanel(
      thresholdLines(
        timeseries(
          {
            title: "Oldest unshipped record",
            description:
              "Age of the oldest record still in the outbox. Alerts at 5 minutes (warning) and a day (critical); " +
              "Loki refuses records older than 8 days.",
          },
          unit.seconds,
        ),
        [
          ["green", null],
          ["orange", 300],
        ],
      )
        .span(6)
        .withTarget(
          prom(
            `max by (instance) (ollama_proxy_outbox_oldest_age_seconds{${INSTANCE}})`,
            "{{instance}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Loki push results",
          description:
            "Pushes to Loki per second by result: 2xx delivered; 429 and 5xx/error are retried with backoff; " +
            "4xx other than 429 are not retried (Loki kept the valid part).",
        },
        unit.requestsPerSecond,
      )
        .span(6)
        .overrideByName("2xx", [fixedColor("green")])
        .overrideByName("429", [fixedColor("orange")])
        .withTarget(
          prom(
            `sum by (result) (rate(ollama_proxy_loki_push_duration_seconds_count{${INSTANCE}}[$__rate_interval]))`,
            "{{result}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Loki push duration",
          description:
            "p50 and p95 duration of one push (a batch of records) to Loki.",
        },
        unit.seconds,
      )
        .span(6)
        .withTarget(
          prom(
            `histogram_quantile(0.5, sum by (le) (rate(ollama_proxy_loki_push_duration_seconds_bucket{${INSTANCE}}[$__rate_interval])))`,
            "p50",
          ),
        )
        .withTarget(
          prom(
            `histogram_quantile(0.95, sum by (le) (rate(ollama_proxy_loki_push_duration_seconds_bucket{${INSTANCE}}[$__rate_interval])))`,
            "p95",
          ),
        ),
    );

  // ---------------------------------------------------------------------------------------------- traces
  builder
    .withRow(new RowBuilder("Traces"))
    .withPanel(
      timeseries(
        {
          title: "Spans exported and dropped",
          description:
            "Spans the proxy's OTLP exporter delivered (the collector accepted them) and spans it lost, by reason: " +
            "export_failed (the collector down or refusing), queue_full (more spans between exports than " +
            "OTEL_BSP_MAX_QUEUE_SIZE). Drops alert; requests are never affected. Flat at zero with tracing off.",
        },
        unit.spansPerSecond,
      )
        .span(12)
        .overrideByName("exported", [fixedColor("green")])
        .withTarget(
          prom(
            `sum(rate(ollama_proxy_trace_spans_exported_total{${INSTANCE}}[$__rate_interval]))`,
            "exported",
          ),
        )
        .withTarget(
          prom(
            `sum by (reason) (rate(ollama_proxy_trace_spans_dropped_total{${INSTANCE}}[$__rate_interval]))`,
            "dropped: {{reason}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Tempo: spans received and discarded",
          description:
            "Spans Tempo's distributor received (from the proxy and any other service sending to it) and spans " +
            "it discarded, by reason (rate_limited, trace_too_large, live_traces_exceeded). Discards alert.",
        },
        unit.spansPerSecond,
      )
        .span(12)
        .overrideByName("received", [fixedColor("green")])
        .withTarget(
          prom(
            "sum(rate(tempo_distributor_spans_received_total[$__rate_interval]))",
            "received",
          ),
        )
        .withTarget(
          prom(
            "sum by (reason) (rate(tempo_discarded_spans_total[$__rate_interval]))",
            "discarded: {{reason}}",
          ),
        ),
    );

  // ------------------------------------------------------------------------------ rejections and errors
  builder
    .withRow(new RowBuilder("Rejections and errors"))
    .withPanel(
      bars(
        timeseries(
          {
            title: "Rejections by reason",
            description:
              "Requests the proxy refused (401/403/413/429/503) or let through degraded (e.g. redis_unavailable " +
              "with LIMITS_ON_REDIS_ERROR=open), by reason.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (reason) (rate(ollama_proxy_rejected_total{${INSTANCE}}[$__rate_interval]))`,
            "{{reason}}",
          ),
        ),
    )
    .withPanel(
      thresholdLines(
        timeseries(
          {
            title: "Wait for a concurrency slot",
            description:
              "p50/p95/p99 of the time requests queued in the proxy for a slot in front of Ollama. Alert: p95 " +
              "above 5 s for 5 minutes.",
          },
          unit.seconds,
        ),
        [
          ["green", null],
          ["red", 5],
        ],
      )
        .span(8)
        .targets(
          (
            [
              ["0.5", "p50"],
              ["0.95", "p95"],
              ["0.99", "p99"],
            ] as const
          ).map(([q, name]) =>
            prom(
              `histogram_quantile(${q}, sum by (le) (rate(ollama_proxy_queue_wait_seconds_bucket{${INSTANCE}}[$__rate_interval])))`,
              name,
            ),
          ),
        ),
    )
    .withPanel(
      bars(
        timeseries(
          {
            title: "Upstream and parse errors",
            description:
              "Failures talking to Ollama (connect, timeout, reset) and responses the tap could not fully parse " +
              "(the client still got every byte; token counts may be missing).",
          },
          unit.short,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (reason) (increase(ollama_proxy_upstream_errors_total{${INSTANCE}}[$__rate_interval]))`,
            "upstream: {{reason}}",
          ),
        )
        .withTarget(
          prom(
            `sum by (endpoint, reason) (increase(ollama_proxy_parse_errors_total{${INSTANCE}}[$__rate_interval]))`,
            "parse: {{endpoint}} {{reason}}",
          ),
        ),
    );

  // ------------------------------------------------------------------------------------------- process
  builder
    .withRow(new RowBuilder("Process"))
    .withPanel(
      timeseries(
        {
          title: "CPU",
          description:
            "CPU time of the proxy process per second (100% = one core).",
        },
        unit.percent,
      )
        .span(8)
        .withTarget(
          prom(
            `rate(ollama_proxy_process_cpu_seconds_total{${INSTANCE}}[$__rate_interval])`,
            "{{instance}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Memory",
          description:
            "Resident memory of the proxy process and its V8 heap. A steady climb under steady load is a leak.",
        },
        unit.bytes,
      )
        .span(8)
        .withTarget(
          prom(
            `ollama_proxy_process_resident_memory_bytes{${INSTANCE}}`,
            "{{instance}} resident",
          ),
        )
        .withTarget(
          prom(
            `ollama_proxy_nodejs_heap_size_used_bytes{${INSTANCE}}`,
            "{{instance}} heap used",
          ),
        )
        .withTarget(
          prom(
            `ollama_proxy_nodejs_heap_size_total_bytes{${INSTANCE}}`,
            "{{instance}} heap total",
          ),
        ),
    )
    .withPanel(
      thresholdLines(
        timeseries(
          {
            title: "Event loop lag",
            description:
              "p50 and p99 event-loop delay. Above ~100 ms the proxy adds latency to every stream it relays.",
          },
          unit.seconds,
        ),
        [
          ["green", null],
          ["orange", 0.1],
        ],
      )
        .span(8)
        .withTarget(
          prom(
            `ollama_proxy_nodejs_eventloop_lag_p50_seconds{${INSTANCE}}`,
            "{{instance}} p50",
          ),
        )
        .withTarget(
          prom(
            `ollama_proxy_nodejs_eventloop_lag_p99_seconds{${INSTANCE}}`,
            "{{instance}} p99",
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Proxy version",
          description: "ollama_proxy_build_info: proxy and Node.js versions.",
        },
        unit.short,
      )
        .span(8)
        .textMode(common.BigValueTextMode.Name)
        .colorMode(common.BigValueColorMode.None)
        .withTarget(
          promInstant(
            `max by (version, node_version) (ollama_proxy_build_info{${INSTANCE}})`,
            "{{version}} (Node.js {{node_version}})",
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Ollama version",
          description: "ollama_upstream_info: Ollama's /api/version.",
        },
        unit.short,
      )
        .span(8)
        .textMode(common.BigValueTextMode.Name)
        .colorMode(common.BigValueColorMode.None)
        .withTarget(
          promInstant(
            `max by (version) (ollama_upstream_info{${INSTANCE}})`,
            "{{version}}",
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Uptime",
          description:
            "Time since the most recent start of a selected proxy process.",
        },
        unit.seconds,
      )
        .span(8)
        .colorMode(common.BigValueColorMode.None)
        .withTarget(
          promInstant(
            `time() - max(ollama_proxy_process_start_time_seconds{${INSTANCE}})`,
          ),
        ),
    );

  return builder.build();
}
