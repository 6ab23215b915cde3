// "Prompt analytics": the per-request records in Loki (one JSON line per request, stream RECORDS). Search the
// prompts, rank the slowest requests and the busiest clients, count tokens by model, read failures and single
// records. LogQL only; the model list comes from Prometheus.
import * as common from "@grafana/grafana-foundation-sdk/common";
import {
  DashboardBuilder,
  DashboardCursorSync,
  RowBuilder,
  TextBoxVariableBuilder,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import {
  LOKI,
  RECORDS,
  STACK_TAG,
  UID,
  bars,
  dataLink,
  labelVariable,
  logs,
  loki,
  lokiInstant,
  ranking,
  seriesToRows,
  stackLinks,
  table,
  timeseries,
  traceLink,
  unit,
} from "./panels.ts";

// Line filter first (cheap, on the raw JSON), then the parser and the exact filters.
const SEARCH = "|~ `(?i)$search`";
const BY_MODEL = '| model=~"$model"';
// (?s): prompts span lines. Label filters are anchored, hence the .* on both sides.
const IN_PROMPT = "| prompt=~`(?is).*$search.*`";
// Metric queries drop the prompt after filtering on it: as a label it would make a series per distinct prompt.
const DROP_PROMPT = "| drop prompt";

const RECORD_LINK = `/d/${UID.promptAnalytics}/prompt-analytics?var-request_id=\${__value.raw}&\${__url_time_range}`;

export function promptAnalyticsDashboard(): Dashboard {
  const builder = new DashboardBuilder("Prompt analytics")
    .uid(UID.promptAnalytics)
    .id(null)
    .description(
      "The proxy's per-request records in Loki: prompts, responses, tokens, durations, clients and errors.",
    )
    .tags([STACK_TAG, "ollama", "llm", "loki"])
    .refresh("1m")
    .time({ from: "now-6h", to: "now" })
    .timezone("browser")
    .tooltip(DashboardCursorSync.Crosshair)
    .link(stackLinks())
    .withVariable(
      labelVariable(
        "model",
        "Model",
        "label_values(ollama_requests_total, model)",
        "Models seen by the proxy (from Prometheus: Loki has no model label, records are filtered after | json).",
      ),
    )
    .withVariable(
      new TextBoxVariableBuilder("search")
        .label("Prompt search")
        .description(
          "Case-insensitive regular expression searched in the prompts, e.g. kubernetes or (password|api.?key).",
        )
        .defaultValue(""),
    )
    .withVariable(
      new TextBoxVariableBuilder("request_id")
        .label("Request id")
        .description(
          "Shows one whole record (X-Request-Id). Click a request id in a table to fill it in.",
        )
        .defaultValue(""),
    );

  // --------------------------------------------------------------------------------------------- search
  builder.withRow(new RowBuilder("Search")).withPanel(
    logs({
      title: "Requests matching the prompt search",
      description:
        "Newest first: model, status, duration, tokens in/out and the start of the prompt. Expand a line for " +
        "every field of the record. Empty search = every request.",
    })
      .height(14)
      .withTarget(
        loki(
          `${RECORDS} ${SEARCH} | json ${BY_MODEL} ${IN_PROMPT}\n` +
            "| line_format `{{.model}} {{.status}} {{.duration_ms}}ms in={{.prompt_tokens}} out={{.completion_tokens}} " +
            "{{.client}} · {{ .prompt | trunc 240 }}`",
        ).maxLines(500),
      ),
  );

  // ------------------------------------------------------------------------------------------- rankings
  builder
    .withRow(new RowBuilder("Rankings (over the selected time range)"))
    .withPanel(
      table(
        {
          title: "Slowest requests",
          description:
            "The 20 longest requests of the range (end-to-end duration), matching the model and prompt search. " +
            "Click a request id to open its record below, a trace id (tracing on) to open its trace in Tempo.",
        },
        unit.milliseconds,
      )
        .datasource(LOKI)
        .height(10)
        .withTarget(
          lokiInstant(
            "topk(20, max by (request_id, trace_id, model, endpoint, status) (max_over_time(\n" +
              `  ${RECORDS} ${SEARCH}\n` +
              `  | json request_id, trace_id, model, endpoint, status, prompt, duration_ms ${BY_MODEL} ${IN_PROMPT} ${DROP_PROMPT}\n` +
              '  | unwrap duration_ms | __error__="" [$__range])))',
          ),
        )
        .transformations(seriesToRows("Duration"))
        .sortBy([
          new common.TableSortByFieldStateBuilder()
            .displayName("Duration")
            .desc(true),
        ])
        .overrideByName("request_id", [
          dataLink("Show this record", RECORD_LINK),
        ])
        .overrideByName("trace_id", [traceLink("Open this trace")]),
    )
    .withPanel(
      ranking(
        {
          title: "Top clients",
          description:
            "Requests per client: the attributed client (CLIENT_HEADER or API key name), else the client IP.",
        },
        unit.short,
      )
        .span(6)
        .withTarget(
          lokiInstant(
            "topk(10, sum by (who) (count_over_time(\n" +
              `  ${RECORDS} | json client, client_ip, model ${BY_MODEL}\n` +
              '  | label_format who="{{ or .client .client_ip }}" | keep who [$__range])))',
            "{{who}}",
          ),
        ),
    )
    .withPanel(
      ranking(
        {
          title: "Top user agents",
          description:
            "Requests per User-Agent header: which tools and SDK versions call Ollama.",
        },
        unit.short,
      )
        .span(6)
        .withTarget(
          lokiInstant(
            "topk(10, sum by (user_agent) (count_over_time(\n" +
              `  ${RECORDS} | json user_agent, model ${BY_MODEL} | keep user_agent [$__range])))`,
            "{{user_agent}}",
          ),
        ),
    );

  // ------------------------------------------------------------------------------------ tokens, failures
  builder
    .withRow(new RowBuilder("Tokens and failures"))
    .withPanel(
      bars(
        timeseries(
          {
            title: "Tokens by model",
            description:
              "Prompt and completion tokens per interval, summed from the records (unwrap), matching the search.",
          },
          unit.short,
        ),
      )
        .datasource(LOKI)
        .axisLabel("tokens")
        .withTarget(
          loki(
            "sum by (model) (sum_over_time(\n" +
              `  ${RECORDS} ${SEARCH} | json model, prompt, completion_tokens ${BY_MODEL} ${IN_PROMPT} ${DROP_PROMPT}\n` +
              '  | unwrap completion_tokens | __error__="" [$__interval]))',
            "{{model}} completion",
          ),
        )
        .withTarget(
          loki(
            "sum by (model) (sum_over_time(\n" +
              `  ${RECORDS} ${SEARCH} | json model, prompt, prompt_tokens ${BY_MODEL} ${IN_PROMPT} ${DROP_PROMPT}\n` +
              '  | unwrap prompt_tokens | __error__="" [$__interval]))',
            "{{model}} prompt",
          ),
        ),
    )
    .withPanel(
      logs({
        title: "Failed requests",
        description:
          "Requests that did not end well: outcome other than ok (upstream_error, stream_error, client_aborted, " +
          "rejected, proxy_error) or a status of 400 and above, with the error message.",
      })
        .span(12)
        .height(8)
        .withTarget(
          loki(
            `${RECORDS} | json ${BY_MODEL} | outcome != "ok" or status >= 400\n` +
              "| line_format `{{.status}} {{.outcome}} {{.model}} {{.endpoint}} {{.request_id}} {{.error}}`",
          ).maxLines(500),
        ),
    );

  // -------------------------------------------------------------------------------------- record detail
  builder.withRow(new RowBuilder("Record detail")).withPanel(
    logs({
      title: "Record $request_id",
      description:
        "The whole record of the request id set above (prompt and response as captured, redacted and truncated " +
        "per CAPTURE_PROMPTS / CAPTURE_RESPONSES).",
    })
      .prettifyLogMessage(true)
      .height(16)
      .withTarget(
        loki(
          `${RECORDS} |= "$request_id" | json | request_id="$request_id"`,
        ).maxLines(5),
      ),
  );

  return builder.build();
}
