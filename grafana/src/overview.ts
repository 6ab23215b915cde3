// "Ollama overview": the home dashboard. What Ollama is doing, as the proxy measures it (Ollama has no metrics
// of its own): traffic, latency, tokens, models in memory, host resources. Prometheus only.
import {
  DashboardBuilder,
  DashboardCursorSync,
  RowBuilder,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import {
  STACK_TAG,
  UID,
  displayName,
  fixedColor,
  labelVariable,
  proxyInstanceVariable,
  prom,
  promInstant,
  promTable,
  stackLinks,
  stacked,
  stat,
  table,
  thresholdLines,
  timeseries,
  unit,
  unitOverride,
  upDownMappings,
} from "./panels.ts";
import { withBackendsRow } from "./backends-row.ts";

// Every Ollama panel follows the three variables (metrics without a backend label match only "All").
const SEL = 'instance=~"$instance", model=~"$model", backend=~"$backend"';
const ERRORS = 'status=~"5..|stream_error"';
// Only the native routes report Ollama's durations (the /v1 routes carry token counts only).
const NATIVE = 'endpoint=~"/api/(chat|generate)"';

const quantiles = [
  ["0.5", "p50"],
  ["0.95", "p95"],
  ["0.99", "p99"],
] as const;

/** `exemplars`: the histogram carries trace ids (tracing on); the p95 line shows them, a click opens the trace. */
function quantilesByModel(histogram: string, exemplars = false) {
  return quantiles.map(([q, name]) => {
    const query = prom(
      `histogram_quantile(${q}, sum by (le, model) (rate(${histogram}_bucket{${SEL}}[$__rate_interval])))`,
      `{{model}} ${name}`,
    );
    return exemplars && name === "p95" ? query.exemplar(true) : query;
  });
}

export function overviewDashboard(): Dashboard {
  const builder = new DashboardBuilder("Ollama overview")
    .uid(UID.overview)
    .id(null)
    .description(
      "Traffic, latency, tokens and memory of the Ollama behind the metrics proxy, from the proxy's /metrics.",
    )
    .tags([STACK_TAG, "ollama", "llm"])
    .refresh("30s")
    .time({ from: "now-1h", to: "now" })
    .timezone("browser")
    .tooltip(DashboardCursorSync.Crosshair)
    .link(stackLinks())
    .withVariable(proxyInstanceVariable())
    .withVariable(
      labelVariable(
        "model",
        "Model",
        'label_values(ollama_requests_total{instance=~"$instance"}, model)',
        "Models seen in requests. Unknown names are grouped by the proxy as _other.",
      ),
    )
    .withVariable(
      labelVariable(
        "backend",
        "Backend",
        'label_values(ollama_upstream_up{instance=~"$instance"}, backend)',
        "The Ollama servers behind the proxy (OLLAMA_BACKENDS; default with OLLAMA_URL).",
      ),
    );

  // ---------------------------------------------------------------------------------------- at a glance
  builder
    .withRow(new RowBuilder("At a glance (over the selected time range)"))
    .withPanel(
      stat(
        {
          title: "Requests/s",
          description:
            "Average request rate through the proxy over the selected time range.",
        },
        unit.requestsPerSecond,
      )
        .decimals(2)
        .withTarget(
          promInstant(`sum(rate(ollama_requests_total{${SEL}}[$__range]))`),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Errors",
          description:
            "Share of requests answered with a 5xx or whose stream broke after its 200 (status stream_error). " +
            "4xx answers are the client's and are not counted. Alert: above 5% for 5 minutes.",
        },
        unit.percent,
        [
          ["green", null],
          ["orange", 0.01],
          ["red", 0.05],
        ],
      )
        .decimals(1)
        .withTarget(
          promInstant(
            `(sum(rate(ollama_requests_total{${SEL}, ${ERRORS}}[$__range])) or vector(0))\n` +
              `/\nclamp_min(sum(rate(ollama_requests_total{${SEL}}[$__range])), 1e-9)`,
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Time to first token p95",
          description:
            "95th percentile of the wait for the first token of streamed answers (model load included). " +
            "Alert: above 10 s for 10 minutes.",
        },
        unit.seconds,
        [
          ["green", null],
          ["orange", 2],
          ["red", 10],
        ],
      ).withTarget(
        promInstant(
          `histogram_quantile(0.95, sum by (le) (rate(ollama_time_to_first_token_seconds_bucket{${SEL}}[$__range])))`,
        ),
      ),
    )
    .withPanel(
      stat(
        {
          title: "Latency p95",
          description:
            "95th percentile of the end-to-end request duration as clients see it (whole answer, streamed or not).",
        },
        unit.seconds,
        [
          ["green", null],
          ["orange", 30],
          ["red", 120],
        ],
      ).withTarget(
        promInstant(
          `histogram_quantile(0.95, sum by (le) (rate(ollama_request_duration_seconds_bucket{${SEL}}[$__range])))`,
        ),
      ),
    )
    .withPanel(
      stat(
        {
          title: "Output tokens/s",
          description:
            "Completion tokens generated per second, all models and routes, averaged over the selected range.",
        },
        unit.tokensPerSecond,
      )
        .decimals(1)
        .withTarget(
          promInstant(
            `sum(rate(ollama_completion_tokens_total{${SEL}}[$__range]))`,
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "In flight",
          description:
            "Requests being served right now. Ollama runs OLLAMA_NUM_PARALLEL requests per model at a time and " +
            "queues the rest. Alert: above 8 for 10 minutes.",
        },
        unit.short,
        [
          ["green", null],
          ["orange", 4],
          ["red", 8],
        ],
      ).withTarget(promInstant(`sum(ollama_requests_in_flight{${SEL}})`)),
    )
    .withPanel(
      stat(
        {
          title: "Ollama",
          description:
            "Whether the proxy's last poll of Ollama (/api/version) succeeded: UP when every backend answers, " +
            "DOWN when none does, else the share that does (the Backends row says which).",
        },
        unit.percent,
        [
          ["red", null],
          ["orange", 0.01],
          ["green", 1],
        ],
      )
        .mappings(upDownMappings())
        .withTarget(
          promInstant(
            'avg(ollama_upstream_up{instance=~"$instance", backend=~"$backend"})',
          ),
        ),
    )
    .withPanel(
      stat(
        {
          title: "Proxy",
          description:
            'Whether Prometheus can scrape the proxy (up{job="ollama-proxy"}).',
        },
        unit.short,
        [
          ["red", null],
          ["green", 1],
        ],
      )
        .mappings(upDownMappings())
        .withTarget(
          promInstant('min(up{job="ollama-proxy", instance=~"$instance"})'),
        ),
    );

  // -------------------------------------------------------------------------------------------- traffic
  builder
    .withRow(new RowBuilder("Traffic"))
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Requests by model",
            description:
              "Request rate per model (stacked). Model names not known to Ollama appear as _other.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (model) (rate(ollama_requests_total{${SEL}}[$__rate_interval]))`,
            "{{model}}",
          ),
        ),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Requests by endpoint",
            description:
              "Request rate per route template: native /api/* and the OpenAI-compatible /v1/* routes.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (endpoint) (rate(ollama_requests_total{${SEL}}[$__rate_interval]))`,
            "{{endpoint}}",
          ),
        ),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Requests by status",
            description:
              "Request rate per HTTP status as the client got it; stream_error is a stream that broke after a 200.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(8)
        .overrideByRegexp("2..", [fixedColor("green")])
        .overrideByRegexp("4..", [fixedColor("orange")])
        .overrideByRegexp("(5..|stream_error)", [fixedColor("red")])
        .withTarget(
          prom(
            `sum by (status) (rate(ollama_requests_total{${SEL}}[$__rate_interval]))`,
            "{{status}}",
          ),
        ),
    );

  // -------------------------------------------------------------------------------------------- latency
  builder
    .withRow(new RowBuilder("Latency"))
    .withPanel(
      thresholdLines(
        timeseries(
          {
            title: "Time to first token by model",
            description:
              "p50/p95/p99 of the time from request to the first generated token (streaming requests only). " +
              "Includes queueing in Ollama and model loading. The dashed line is the alert threshold. " +
              "With tracing on, the diamonds are exemplars: single requests, a click opens their trace in Tempo.",
          },
          unit.seconds,
        ),
        [
          ["green", null],
          ["red", 10],
        ],
      )
        .span(6)
        .targets(quantilesByModel("ollama_time_to_first_token_seconds", true)),
    )
    .withPanel(
      timeseries(
        {
          title: "Request duration by model",
          description:
            "p50/p95/p99 of the end-to-end duration as the client sees it, until the last byte of the answer. " +
            "With tracing on, the diamonds are exemplars: single requests, a click opens their trace in Tempo.",
        },
        unit.seconds,
      )
        .span(6)
        .targets(quantilesByModel("ollama_request_duration_seconds", true)),
    )
    .withPanel(
      timeseries(
        {
          title: "Time per output token by model",
          description:
            "p50/p95/p99 of the time between tokens once the first arrived, as a streaming client sees it: " +
            "(duration − TTFT) / (output tokens − 1). Slow here with a fast TTFT: the GPU is shared by too many " +
            "parallel requests (OLLAMA_NUM_PARALLEL) or the model spills to the CPU.",
        },
        unit.seconds,
      )
        .span(6)
        .targets(quantilesByModel("ollama_time_per_output_token_seconds")),
    )
    .withPanel(
      timeseries(
        {
          title: "Ollama queue wait by model",
          description:
            "p50/p95/p99 of how long requests to an already loaded model waited inside Ollama for a runner " +
            "(its load_duration when /api/ps listed the model before the request). High here: more requests " +
            'than OLLAMA_NUM_PARALLEL serves at once — the usual answer to "why is it slow".',
        },
        unit.seconds,
      )
        .span(6)
        .targets(quantilesByModel("ollama_queue_wait_seconds")),
    );

  // --------------------------------------------------------------------------------------------- tokens
  builder
    .withRow(new RowBuilder("Tokens"))
    .withPanel(
      timeseries(
        {
          title: "Decode speed by model",
          description:
            "Generated tokens per second of decode time: completion tokens / Ollama's eval_duration " +
            "(native /api/chat and /api/generate only; the /v1 routes do not report durations).",
        },
        unit.tokensPerSecond,
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (model) (rate(ollama_completion_tokens_total{${SEL}, ${NATIVE}}[$__rate_interval]))\n` +
              `/\nsum by (model) (rate(ollama_eval_duration_seconds_sum{${SEL}}[$__rate_interval]))`,
            "{{model}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Prefill speed by model",
          description:
            "Prompt tokens per second of prompt evaluation: prompt tokens / Ollama's prompt_eval_duration " +
            "(native routes). Prompt tokens include KV-cache hits, so shared prefixes make this read high.",
        },
        unit.tokensPerSecond,
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (model) (rate(ollama_prompt_tokens_total{${SEL}, ${NATIVE}}[$__rate_interval]))\n` +
              `/\nsum by (model) (rate(ollama_prompt_eval_duration_seconds_sum{${SEL}}[$__rate_interval]))`,
            "{{model}}",
          ),
        ),
    )
    .withPanel(
      timeseries(
        {
          title: "Prompt vs completion tokens",
          description:
            "Token throughput per model, input (prompt) and output (completion), all routes.",
        },
        unit.tokensPerSecond,
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (model) (rate(ollama_prompt_tokens_total{${SEL}}[$__rate_interval]))`,
            "{{model}} prompt",
          ),
        )
        .withTarget(
          prom(
            `sum by (model) (rate(ollama_completion_tokens_total{${SEL}}[$__rate_interval]))`,
            "{{model}} completion",
          ),
        ),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Requests by prompt category",
            description:
              "What people ask for: the proxy's bounded prompt categories (code, math, summarize, translate, …) " +
              "from cheap rules over each prompt. Search the prompts themselves on Prompt analytics.",
          },
          unit.requestsPerSecond,
        ),
      )
        .span(24)
        .withTarget(
          prom(
            `sum by (category) (rate(ollama_prompt_category_total{${SEL}}[$__rate_interval]))`,
            "{{category}}",
          ),
        ),
    );

  // --------------------------------------------------------------------------------------------- models
  builder
    .withRow(new RowBuilder("Models"))
    .withPanel(
      timeseries(
        {
          title: "Model load time",
          description:
            "p50/p95 of Ollama's load_duration: waiting for and loading the model before the runner is ready. " +
            "High values mean cold starts: raise OLLAMA_KEEP_ALIVE or OLLAMA_MAX_LOADED_MODELS.",
        },
        unit.seconds,
      )
        .span(8)
        .targets(
          quantiles
            .filter(([, name]) => name !== "p99")
            .map(([q, name]) =>
              prom(
                `histogram_quantile(${q}, sum by (le, model) (rate(ollama_load_duration_seconds_bucket{${SEL}}[$__rate_interval])))`,
                `{{model}} ${name}`,
              ),
            ),
        ),
    )
    .withPanel(
      table(
        {
          title: "Loaded models",
          description:
            "Models Ollama holds in memory now (/api/ps): size, the part in VRAM, and when keep_alive unloads them.",
        },
        unit.bytes,
      )
        .span(8)
        .withTarget(
          promTable(
            `sum by (model) (ollama_model_memory_bytes{${SEL}, kind="total"})`,
          ).refId("A"),
        )
        .withTarget(
          promTable(
            `sum by (model) (ollama_model_memory_bytes{${SEL}, kind="vram"})`,
          ).refId("B"),
        )
        .withTarget(
          promTable(
            `max by (model) (ollama_model_expires_at_seconds{${SEL}}) * 1000`,
          ).refId("C"),
        )
        .withTransformation({ id: "merge", options: {} })
        .withTransformation({
          id: "organize",
          options: {
            excludeByName: { Time: true },
            renameByName: {
              model: "Model",
              "Value #A": "Size",
              "Value #B": "In VRAM",
              "Value #C": "Unloads",
            },
          },
        })
        .overrideByName("Unloads", [unitOverride(unit.dateFromNow)]),
    )
    .withPanel(
      stacked(
        timeseries(
          {
            title: "Model memory",
            description:
              "Memory of the loaded models, in VRAM and in host RAM (stacked). The dashed line is the GPU " +
              "memory from the GPU exporter (GPU variant); alert above 90% of it.",
          },
          unit.bytes,
        ),
      )
        .span(8)
        .withTarget(
          prom(
            `sum by (model) (ollama_model_memory_bytes{${SEL}, kind="vram"})`,
            "{{model}} VRAM",
          ),
        )
        .withTarget(
          prom(
            `sum by (model) (ollama_model_memory_bytes{${SEL}, kind="total"})\n` +
              `- sum by (model) (ollama_model_memory_bytes{${SEL}, kind="vram"})`,
            "{{model}} RAM",
          ),
        )
        .withTarget(prom("ollama:gpu_memory_capacity_bytes", "GPU memory"))
        .overrideByName("GPU memory", [
          displayName("GPU memory"),
          fixedColor("red"),
          { id: "custom.stacking", value: { mode: "none", group: "A" } },
          { id: "custom.fillOpacity", value: 0 },
          { id: "custom.lineStyle", value: { fill: "dash", dash: [10, 10] } },
        ]),
    );

  withBackendsRow(builder);

  // ----------------------------------------------------------------------------------------------- host
  builder.withRow(new RowBuilder("Host")).withPanel(
    thresholdLines(
      timeseries(
        {
          title: "Host resources",
          description:
            "CPU, memory and root-disk use of the host (node-exporter), and GPU utilisation and memory when the " +
            "GPU variant's exporter runs.",
        },
        unit.percent,
      ),
      [
        ["green", null],
        ["orange", 0.8],
        ["red", 0.9],
      ],
    )
      .max(1)
      .span(24)
      .height(7)
      .withTarget(
        prom(
          '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))',
          "CPU",
        ),
      )
      .withTarget(
        prom(
          "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)",
          "Memory",
        ),
      )
      .withTarget(
        prom(
          '1 - sum(node_filesystem_avail_bytes{mountpoint="/"}) / sum(node_filesystem_size_bytes{mountpoint="/"})',
          "Disk /",
        ),
      )
      .withTarget(prom("avg(DCGM_FI_DEV_GPU_UTIL) / 100", "GPU"))
      .withTarget(
        prom(
          "sum(DCGM_FI_DEV_FB_USED) / sum(DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)",
          "GPU memory",
        ),
      ),
  );

  return builder.build();
}
