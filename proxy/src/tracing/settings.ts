// The tracing settings: OpenTelemetry's standard variables, read with the same rules as every other setting
// (settings.ts). Tracing is on when an OTLP endpoint is set and OTEL_SDK_DISABLED is not true. The exporter and
// the resource detector read their own variables too (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES, …);
// what is validated here is what would otherwise fail silently.
import { z } from "zod";
import { bool, isUrl, parseSettings, positiveInt } from "../settings.ts";

export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** OTEL_SEMCONV_STABILITY_OPT_IN value that selects the newest GenAI names (exchange-span.ts). */
export const LATEST_GENAI = "gen_ai_latest_experimental";

const otlpUrl = (what: string) =>
  z
    .string()
    .trim()
    .refine((value) => isUrl(value, ["http:", "https:"], true), {
      error: `expected ${what}: an http(s) URL such as http://tempo:4318`,
    });

const protocol = z.enum(["http/protobuf"], {
  error:
    "expected http/protobuf: the proxy exports OTLP over HTTP with protobuf (set the collector's 4318 port)",
});

const Env = z.object({
  OTEL_SDK_DISABLED: bool("OTEL_SDK_DISABLED").default(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl("the collector's base URL").optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl(
    "the full traces URL (…/v1/traces)",
  ).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol.optional(),
  OTEL_SERVICE_NAME: z.string().trim().default("ollama-proxy"),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_TRACES_SAMPLER: z
    .enum(SAMPLERS, { error: `expected one of ${SAMPLERS.join(", ")}` })
    .default("parentbased_always_on"),
  OTEL_TRACES_SAMPLER_ARG: z.coerce
    .number({ error: "expected a sampling ratio between 0 and 1" })
    .min(0, { error: "expected a sampling ratio between 0 and 1" })
    .max(1, { error: "expected a sampling ratio between 0 and 1" })
    .optional(),
  OTEL_BSP_MAX_QUEUE_SIZE: positiveInt("spans waiting for export").default(
    2048,
  ),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: positiveInt("spans per export").default(512),
  OTEL_BSP_SCHEDULE_DELAY: positiveInt("milliseconds between exports").default(
    5000,
  ),
  OTEL_BSP_EXPORT_TIMEOUT: positiveInt("milliseconds per export").default(
    30_000,
  ),
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: bool(
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
  ).default(false),
  OTEL_SEMCONV_STABILITY_OPT_IN: z.string().default(""),
  OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: positiveInt(
    "characters of a span attribute's text",
  ).optional(),
  OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: positiveInt(
    "characters of an attribute's text",
  ).optional(),
});

export const TRACING_ENV_VARS: readonly string[] = Object.keys(Env.shape);

export interface TracingSettings {
  readonly enabled: boolean;
  /** Where spans go, for the start-up log (the exporter reads the variables itself). */
  readonly endpoint: string | undefined;
  readonly serviceName: string;
  readonly sampler: SamplerName;
  /** The ratio for the *traceidratio samplers (default 1). */
  readonly samplerRatio: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMs: number;
  readonly exportTimeoutMs: number;
  /** Prompt and completion text on spans (redacted like records); off by default. */
  readonly captureContent: boolean;
  /** OTEL_SEMCONV_STABILITY_OPT_IN names gen_ai_latest_experimental: emit the newest GenAI names. */
  readonly latestGenAi: boolean;
  /** Text attributes (and captured content) are cut to this many characters; unset: whole. */
  readonly attributeValueLengthLimit: number | undefined;
}

export function loadTracingSettings(env: NodeJS.ProcessEnv): TracingSettings {
  const raw = parseSettings(Env, env);
  const endpoint =
    raw.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    (raw.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined
      ? `${raw.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces`
      : undefined);
  return {
    enabled: endpoint !== undefined && !raw.OTEL_SDK_DISABLED,
    endpoint,
    serviceName: raw.OTEL_SERVICE_NAME,
    sampler: raw.OTEL_TRACES_SAMPLER,
    samplerRatio: raw.OTEL_TRACES_SAMPLER_ARG ?? 1,
    // The SDK requires a batch no larger than the queue.
    maxQueueSize: raw.OTEL_BSP_MAX_QUEUE_SIZE,
    maxExportBatchSize: Math.min(
      raw.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      raw.OTEL_BSP_MAX_QUEUE_SIZE,
    ),
    scheduledDelayMs: raw.OTEL_BSP_SCHEDULE_DELAY,
    exportTimeoutMs: raw.OTEL_BSP_EXPORT_TIMEOUT,
    captureContent: raw.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    latestGenAi: raw.OTEL_SEMCONV_STABILITY_OPT_IN.split(",")
      .map((value) => value.trim())
      .includes(LATEST_GENAI),
    attributeValueLengthLimit:
      raw.OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT ??
      raw.OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT,
  };
}
