// The overview's "Backends" row: each Ollama server behind the proxy (OLLAMA_BACKENDS; one named "default" with
// OLLAMA_URL) — is it up and taking traffic, how busy, how fast, what fails, what it holds in memory.
import {
  RowBuilder,
  type DashboardBuilder,
} from "@grafana/grafana-foundation-sdk/dashboard";
import {
  bars,
  prom,
  promTable,
  stacked,
  table,
  timeseries,
  unit,
  upDownMappings,
} from "./panels.ts";

const INSTANCE = 'instance=~"$instance"';
const BACKEND = `${INSTANCE}, backend=~"$backend"`;

export function withBackendsRow(builder: DashboardBuilder): DashboardBuilder {
  return builder
    .withRow(new RowBuilder("Backends"))
    .withPanel(
      table(
        {
          title: "Backends",
          description:
            "Each Ollama server: Up = its poll answers; In rotation = it takes traffic (not taken out after " +
            "failures); its version, installed models and requests in flight now. Alerts: a backend down, all " +
            "backends down, a model no healthy backend has.",
        },
        unit.short,
      )
        .span(12)
        .withTarget(
          promTable(`max by (backend) (ollama_upstream_up{${BACKEND}})`).refId(
            "A",
          ),
        )
        .withTarget(
          promTable(
            `max by (backend) (ollama_proxy_backend_healthy{${BACKEND}})`,
          ).refId("B"),
        )
        .withTarget(
          promTable(
            `max by (backend, version) (ollama_upstream_info{${BACKEND}})`,
          ).refId("C"),
        )
        .withTarget(
          promTable(
            `max by (backend) (ollama_models_available{${BACKEND}})`,
          ).refId("D"),
        )
        .withTarget(
          promTable(
            `sum by (backend) (ollama_requests_in_flight{${BACKEND}})`,
          ).refId("E"),
        )
        .withTransformation({ id: "merge", options: {} })
        .withTransformation({
          id: "organize",
          options: {
            excludeByName: { Time: true, "Value #C": true },
            renameByName: {
              backend: "Backend",
              version: "Version",
              "Value #A": "Up",
              "Value #B": "In rotation",
              "Value #D": "Models",
              "Value #E": "In flight",
            },
          },
        })
        .overrideByName("Up", [{ id: "mappings", value: upDownMappings() }])
        .overrideByName("In rotation", [
          { id: "mappings", value: upDownMappings() },
        ]),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Requests by backend",
            description:
              "Requests per second each backend served. Requests go where their model is loaded, least busy " +
              "first; a backend that has no traffic may simply not hold the models asked for.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(12)
        .withTarget(
          prom(
            `sum by (backend) (rate(ollama_requests_total{${BACKEND}, backend!=""}[$__rate_interval]))`,
            "{{backend}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Ollama queue wait p95 by backend",
          description:
            "How long requests to an already loaded model waited for a runner in each backend's Ollama: the " +
            "backend to relieve first. Output tokens/s shows what each delivers.",
        },
        unit.seconds,
      )
        .span(8)
        .withTarget(
          prom(
            `histogram_quantile(0.95, sum by (le, backend) (rate(ollama_queue_wait_seconds_bucket{${BACKEND}}[$__rate_interval])))`,
            "{{backend}} p95",
          ),
        ),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Output tokens/s by backend",
            description:
              "Completion tokens each backend generated per second: the work it really does.",
          },
          unit.tokensPerSecond,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (backend) (rate(ollama_completion_tokens_total{${BACKEND}}[$__rate_interval]))`,
            "{{backend}}",
          ),
        ),
    )
    .withPanel(
      bars(
        timeseries(
          {
            title: "Failures, retries and ejections by backend",
            description:
              "Upstream errors (connect, reset, timeout), requests retried on another backend after this one " +
              "failed before any byte, and the times it was taken out of the rotation.",
          },
          unit.short,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (backend) (increase(ollama_proxy_upstream_errors_total{${BACKEND}}[$__rate_interval]))`,
            "{{backend}} errors",
          ),
        )
        .withTarget(
          prom(
            `sum by (backend) (increase(ollama_proxy_backend_retries_total{${BACKEND}}[$__rate_interval]))`,
            "{{backend}} retried elsewhere",
          ),
        )
        .withTarget(
          prom(
            `sum by (backend) (increase(ollama_proxy_backend_ejections_total{${BACKEND}}[$__rate_interval]))`,
            "{{backend}} ejected",
          ),
        ),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Loaded model memory by backend",
            description:
              "Memory of the models each backend holds loaded (/api/ps), in VRAM and in total.",
          },
          unit.bytes,
        ),
      )
        .span(12)
        .withTarget(
          prom(
            `sum by (backend) (ollama_model_memory_bytes{${BACKEND}, kind="vram"})`,
            "{{backend}} VRAM",
          ),
        ),
    )
    .withPanel(
      table(
        {
          title: "Where each model is",
          description:
            "For each installed model: the backends that have it (/api/tags) and those that hold it loaded " +
            "now (/api/ps). A model only on backends out of the rotation cannot be served.",
        },
        unit.short,
      )
        .span(12)
        .withTarget(
          promTable(
            `count by (model) (ollama_model_installed{${BACKEND}})`,
          ).refId("A"),
        )
        .withTarget(
          promTable(
            `count by (model) (ollama_model_installed{${BACKEND}} * on (instance, backend) group_left () (ollama_proxy_backend_healthy == 1))`,
          ).refId("B"),
        )
        .withTarget(
          promTable(`count by (model) (ollama_model_loaded{${BACKEND}})`).refId(
            "C",
          ),
        )
        .withTransformation({ id: "merge", options: {} })
        .withTransformation({
          id: "organize",
          options: {
            excludeByName: { Time: true },
            renameByName: {
              model: "Model",
              "Value #A": "Backends with it",
              "Value #B": "Healthy with it",
              "Value #C": "Loaded on",
            },
          },
        }),
    );
}
