// Shared building blocks for the dashboards: datasource references by provisioned uid, query builders and
// panel presets with the defaults every panel here wants (units, legends, tooltips, thresholds).
// Pure: builds objects, writes nothing (grafana/src/build.ts writes the JSON).
import * as common from "@grafana/grafana-foundation-sdk/common";
import {
  DashboardLinkBuilder,
  DashboardLinkType,
  FieldColorBuilder,
  FieldColorModeId,
  MappingType,
  SpecialValueMatch,
  QueryVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  VariableRefresh,
  VariableSort,
  type DataTransformerConfig,
  type DynamicConfigValue,
  type ValueMapping,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { PanelBuilder as BarGaugePanel } from "@grafana/grafana-foundation-sdk/bargauge";
import { PanelBuilder as LogsPanel } from "@grafana/grafana-foundation-sdk/logs";
import { DataqueryBuilder as LokiQuery } from "@grafana/grafana-foundation-sdk/loki";
import {
  DataqueryBuilder as PromQuery,
  PromQueryFormat,
} from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanel } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TablePanel } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as TimeseriesPanel } from "@grafana/grafana-foundation-sdk/timeseries";

/** Provisioned in grafana/provisioning/datasources/datasources.yaml with these fixed uids. */
export const PROMETHEUS = { type: "prometheus", uid: "prometheus" };
export const LOKI = { type: "loki", uid: "loki" };
export const TEMPO = { type: "tempo", uid: "tempo", name: "Tempo" };

/** Dashboard uids, fixed so that URLs and cross-dashboard links stay stable. */
export const UID = {
  overview: "ollama-overview",
  promptAnalytics: "ollama-prompt-analytics",
  proxyInternals: "ollama-proxy-internals",
} as const;

/** Every dashboard of the stack carries this tag; the dashboard links list them by it. */
export const STACK_TAG = "ollama-observability";

// Units: Grafana unit ids (the SDK's units module names the same strings).
export const unit = {
  seconds: "s",
  milliseconds: "ms",
  requestsPerSecond: "reqps",
  percent: "percentunit",
  bytes: "bytes",
  short: "short",
  tokensPerSecond: "suffix: tok/s",
  recordsPerSecond: "suffix: rec/s",
  spansPerSecond: "suffix: spans/s",
  dateFromNow: "dateTimeFromNow",
} as const;

/** The analytics records' stream (records issue): never add a label here that the proxy does not set. */
export const RECORDS = '{service_name="ollama-proxy", log_type="request"}';

// ---------------------------------------------------------------------------------------------- queries

export function prom(expr: string, legendFormat = "__auto"): PromQuery {
  return new PromQuery()
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat(legendFormat)
    .range();
}

/** An instant query: one value per series over the whole range (with `$__range` in the expression). */
export function promInstant(expr: string, legendFormat = "__auto"): PromQuery {
  return new PromQuery()
    .datasource(PROMETHEUS)
    .expr(expr)
    .legendFormat(legendFormat)
    .instant();
}

export function promTable(expr: string): PromQuery {
  return promInstant(expr).format(PromQueryFormat.Table);
}

export function loki(expr: string, legendFormat?: string): LokiQuery {
  const query = new LokiQuery().datasource(LOKI).expr(expr).queryType("range");
  return legendFormat === undefined ? query : query.legendFormat(legendFormat);
}

export function lokiInstant(expr: string, legendFormat?: string): LokiQuery {
  const query = new LokiQuery()
    .datasource(LOKI)
    .expr(expr)
    .queryType("instant");
  return legendFormat === undefined ? query : query.legendFormat(legendFormat);
}

// ----------------------------------------------------------------------------------------------- panels

type Steps = [color: string, from: number | null][];

/** Absolute thresholds, lowest first: [["green", null], ["orange", 2], ["red", 10]]. */
export function thresholds(steps: Steps): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder()
    .mode(ThresholdsMode.Absolute)
    .steps(steps.map(([color, value]) => ({ color, value })));
}

export const neutral: Steps = [["green", null]];

interface PanelText {
  title: string;
  description: string;
}

/** Time series with a table legend (mean, max, last) and a shared, sorted tooltip. */
export function timeseries(
  { title, description }: PanelText,
  unitId: string,
): TimeseriesPanel {
  return new TimeseriesPanel()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unitId)
    .min(0)
    .lineWidth(1)
    .fillOpacity(10)
    .gradientMode(common.GraphGradientMode.Opacity)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true)
        .calcs(["mean", "max", "lastNotNull"])
        .sortBy("Max")
        .sortDesc(true),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    )
    .thresholds(thresholds(neutral))
    .height(8)
    .span(12);
}

/** Draws the thresholds as dashed lines: where an alert fires, or a capacity. */
export function thresholdLines(
  panel: TimeseriesPanel,
  steps: Steps,
): TimeseriesPanel {
  return panel
    .thresholds(thresholds(steps))
    .thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(
        common.GraphThresholdsStyleMode.Dashed,
      ),
    );
}

/** Stacked areas: for parts of a whole (requests by model, memory by model). */
export function stacked(panel: TimeseriesPanel): TimeseriesPanel {
  return panel
    .fillOpacity(35)
    .stacking(
      new common.StackingConfigBuilder().mode(common.StackingMode.Normal),
    );
}

/** Stacked bars: for counts per interval (dropped records, tokens per interval). */
export function bars(panel: TimeseriesPanel): TimeseriesPanel {
  return panel
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(
      new common.StackingConfigBuilder().mode(common.StackingMode.Normal),
    );
}

/** A single number with its thresholds as background colour. */
export function stat(
  { title, description }: PanelText,
  unitId: string,
  steps: Steps = neutral,
): StatPanel {
  return new StatPanel()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unitId)
    .thresholds(thresholds(steps))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .textMode(common.BigValueTextMode.Value)
    .justifyMode(common.BigValueJustifyMode.Center)
    .reduceOptions(
      new common.ReduceDataOptionsBuilder()
        .calcs(["lastNotNull"])
        .values(false),
    )
    .noValue("–")
    .mappings([noTrafficMapping()])
    .height(4)
    .span(3);
}

/** No traffic makes quantiles and ratios NaN: show a dash, as for no data. */
export function noTrafficMapping(): ValueMapping {
  return {
    type: MappingType.SpecialValue,
    options: {
      match: SpecialValueMatch.NotANumber,
      result: { text: "–", index: 0 },
    },
  };
}

/** 0/1 gauge shown as DOWN/UP. */
export function upDownMappings(): ValueMapping[] {
  return [
    {
      type: MappingType.ValueToText,
      options: {
        "0": { text: "DOWN", color: "red", index: 0 },
        "1": { text: "UP", color: "green", index: 1 },
      },
    },
  ];
}

export function table(
  { title, description }: PanelText,
  unitId: string,
): TablePanel {
  return new TablePanel()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unitId)
    .cellHeight(common.TableCellHeight.Sm)
    .filterable(true)
    .thresholds(thresholds(neutral))
    .height(8)
    .span(12);
}

/** Horizontal bars, one per series: rankings ("top clients"). */
export function ranking(
  { title, description }: PanelText,
  unitId: string,
): BarGaugePanel {
  return new BarGaugePanel()
    .title(title)
    .description(description)
    .datasource(LOKI)
    .unit(unitId)
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .valueMode(common.BarGaugeValueMode.Text)
    .namePlacement(common.BarGaugeNamePlacement.Top)
    .showUnfilled(true)
    .reduceOptions(
      new common.ReduceDataOptionsBuilder()
        .calcs(["lastNotNull"])
        .values(false),
    )
    .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.ContinuousBlPu))
    .thresholds(thresholds(neutral))
    .height(10)
    .span(8);
}

export function logs({ title, description }: PanelText): LogsPanel {
  return new LogsPanel()
    .title(title)
    .description(description)
    .datasource(LOKI)
    .showTime(true)
    .wrapLogMessage(true)
    .enableLogDetails(true)
    .sortOrder(common.LogsSortOrder.Descending)
    .dedupStrategy(common.LogsDedupStrategy.None)
    .height(12)
    .span(24);
}

// ------------------------------------------------------------------------------------ field overrides

export function fixedColor(color: string): DynamicConfigValue {
  return { id: "color", value: { mode: "fixed", fixedColor: color } };
}

export function unitOverride(unitId: string): DynamicConfigValue {
  return { id: "unit", value: unitId };
}

export function displayName(name: string): DynamicConfigValue {
  return { id: "displayName", value: name };
}

/** A field data link; `url` may use ${__value.raw}, ${__data.fields.<name>} and ${__url_time_range}. */
export function dataLink(title: string, url: string): DynamicConfigValue {
  return { id: "links", value: [{ title, url }] };
}

/**
 * A field data link that opens the cell's trace id in Tempo (Explore), the way the Loki datasource's derived field
 * does: an internal link to the provisioned Tempo datasource, whose TraceQL query accepts a bare trace id.
 */
export function traceLink(title: string): DynamicConfigValue {
  return {
    id: "links",
    value: [
      {
        title,
        url: "",
        internal: {
          datasourceUid: TEMPO.uid,
          datasourceName: TEMPO.name,
          query: { query: "${__value.raw}", queryType: "traceql" },
        },
      },
    ],
  };
}

/** Turns one-row-per-series results (Prometheus or Loki) into a table with one column per label. */
export function seriesToRows(valueColumn: string): DataTransformerConfig[] {
  return [
    {
      id: "reduce",
      options: {
        mode: "seriesToRows",
        reducers: ["lastNotNull"],
        includeTimeField: false,
        labelsToFields: true,
      },
    },
    {
      id: "organize",
      options: {
        excludeByName: { Field: true },
        renameByName: { "Last *": valueColumn },
      },
    },
  ];
}

// ------------------------------------------------------------------------------------------- variables

/** A multi-value Prometheus label variable with "All" = `.*` (so it also works before any series exists). */
export function labelVariable(
  name: string,
  label: string,
  query: string,
  description: string,
): QueryVariableBuilder {
  return new QueryVariableBuilder(name)
    .label(label)
    .description(description)
    .datasource(PROMETHEUS)
    .query(query)
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.NaturalAsc)
    .multi(true)
    .includeAll(true)
    .allValue(".*")
    .current({ selected: true, text: ["All"], value: ["$__all"] });
}

/** The `$instance` dropdown of the dashboards built on the proxy's /metrics. */
export function proxyInstanceVariable(): QueryVariableBuilder {
  return labelVariable(
    "instance",
    "Proxy",
    'label_values(up{job="ollama-proxy"}, instance)',
    "Proxy instances scraped by Prometheus (job ollama-proxy).",
  );
}

/** The dropdown linking the stack's dashboards to each other, keeping time range and variables. */
export function stackLinks(): DashboardLinkBuilder {
  return new DashboardLinkBuilder("Ollama dashboards")
    .type(DashboardLinkType.Dashboards)
    .tags([STACK_TAG])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true)
    .targetBlank(false)
    .icon("external link")
    .tooltip("")
    .url("");
}
