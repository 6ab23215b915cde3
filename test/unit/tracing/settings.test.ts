// Tracing's standard variables: on only with an endpoint, and a bad value stops the start naming the variable.
import { describe, expect, it } from "vitest";
import { loadSettings } from "@proxy/config.ts";
import { ConfigError } from "@proxy/settings.ts";
import { loadTracingSettings } from "@proxy/tracing/settings.ts";

describe("tracing settings", () => {
  it("is off without an OTLP endpoint, and with OTEL_SDK_DISABLED", () => {
    expect(loadTracingSettings({}).enabled).toBe(false);
    expect(
      loadTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://tempo:4318",
        OTEL_SDK_DISABLED: "true",
      }).enabled,
    ).toBe(false);
  });

  it("sends to the base endpoint's /v1/traces, or to the traces endpoint as given", () => {
    expect(
      loadTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://tempo:4318/",
      }),
    ).toMatchObject({ enabled: true, endpoint: "http://tempo:4318/v1/traces" });
    expect(
      loadTracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://b/otlp/v1/traces",
      }).endpoint,
    ).toBe("https://b/otlp/v1/traces");
  });

  it("defaults like the SDK: parent-based always-on, 2048 queued spans, v1.36 names, no content", () => {
    expect(
      loadTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://t:4318" }),
    ).toMatchObject({
      sampler: "parentbased_always_on",
      samplerRatio: 1,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
      captureContent: false,
      latestGenAi: false,
      serviceName: "ollama-proxy",
      attributeValueLengthLimit: undefined,
    });
    expect(
      loadTracingSettings({
        OTEL_SEMCONV_STABILITY_OPT_IN: "http, gen_ai_latest_experimental",
        OTEL_BSP_MAX_QUEUE_SIZE: "100",
      }),
    ).toMatchObject({
      latestGenAi: true,
      maxQueueSize: 100,
      maxExportBatchSize: 100,
    });
  });

  it("cuts text to the span limit, else the general attribute limit", () => {
    expect(
      loadTracingSettings({ OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: "4096" })
        .attributeValueLengthLimit,
    ).toBe(4096);
    expect(
      loadTracingSettings({
        OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: "4096",
        OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: "256",
      }).attributeValueLengthLimit,
    ).toBe(256);
  });

  it.each([
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "tempo:4318"],
    ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x/v1/traces"],
    ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
    ["OTEL_TRACES_SAMPLER", "sometimes"],
    ["OTEL_TRACES_SAMPLER_ARG", "1.5"],
    ["OTEL_BSP_MAX_QUEUE_SIZE", "0"],
    ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "maybe"],
    ["OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1"],
  ])("refuses %s=%s, naming it", (name, value) => {
    let error: unknown;
    try {
      loadSettings({ [name]: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringContaining(`${name}=${JSON.stringify(value)}`) as string,
    ]);
  });
});
