// An exchange's span plan (exchange-span.ts) as the finished spans an OpenTelemetry exporter reads: the exchange's
// span under the client's parent, and Ollama's phases under it. The exchange is over when its spans are made, so
// they are built finished, as plain `ReadableSpan`s for the SDK's batch processor and exporter, rather than started
// and ended through its `Tracer`, whose live `Span` (clock anchoring, attribute sanitising, contexts, limits) is
// work for spans whose end is not known yet: an `/api/generate`'s five spans, serialised, cost 23–47 µs that way
// and 15–17 µs this way (bench/micro/span-cost.ts).
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  createTraceState,
  type SpanContext,
  type SpanStatus,
} from "@opentelemetry/api";
import {
  hrTimeDuration,
  millisToHrTime,
  type InstrumentationScope,
} from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan } from "@opentelemetry/sdk-trace";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import type { Attributes, SpanPlan } from "./exchange-span.ts";

export interface SpanSource {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  /** A new random span id, 16 hex digits (the phases'). */
  readonly spanId: () => string;
  /** OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: longer string values are cut to it. */
  readonly valueLengthLimit: number | undefined;
}

const UNSET: SpanStatus = { code: SpanStatusCode.UNSET };

function limited(attributes: Attributes, limit: number | undefined) {
  if (limit === undefined) return attributes;
  const cut: Attributes = {};
  for (const [key, value] of Object.entries(attributes))
    cut[key] =
      typeof value === "string"
        ? value.slice(0, limit)
        : Array.isArray(value)
          ? value.map((item) => item.slice(0, limit))
          : value;
  return cut;
}

function finished(
  source: SpanSource,
  fields: {
    name: string;
    kind: SpanKind;
    context: SpanContext;
    parent: SpanContext | undefined;
    startMs: number;
    endMs: number;
    attributes: Attributes;
    events: ReadableSpan["events"];
    status: SpanStatus;
  },
): ReadableSpan {
  const startTime = millisToHrTime(fields.startMs);
  const endTime = millisToHrTime(Math.max(fields.startMs, fields.endMs));
  const { context } = fields;
  return {
    name: fields.name,
    kind: fields.kind,
    spanContext: () => context,
    parentSpanContext: fields.parent,
    startTime,
    endTime,
    duration: hrTimeDuration(startTime, endTime),
    status: fields.status,
    attributes: limited(fields.attributes, source.valueLengthLimit),
    links: [],
    events: fields.events,
    ended: true,
    resource: source.resource,
    instrumentationScope: source.scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** The exchange's span as the request thread drew it (its record and exemplar carry the same ids). */
export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
}

/**
 * The exchange's span and its phases, finished: `ids` for the exchange's span, the client's parent and trace state
 * from `summary`, if any; `endMs` is the exchange's end.
 */
export function finishedSpans(
  summary: ExchangeSummary,
  ids: SpanIds,
  plan: SpanPlan,
  kind: SpanKind,
  endMs: number,
  source: SpanSource,
): ReadableSpan[] {
  const traceState =
    summary.traceState !== undefined
      ? createTraceState(summary.traceState)
      : undefined;
  // A span carries its parent's trace state, as the SDK's tracer gives it.
  const context: SpanContext = {
    traceId: ids.traceId,
    spanId: ids.spanId,
    traceFlags: TraceFlags.SAMPLED,
    ...(traceState && { traceState }),
  };
  const parent: SpanContext | undefined =
    summary.traceParentId !== undefined
      ? { ...context, spanId: summary.traceParentId, isRemote: true }
      : undefined;
  const spans = [
    finished(source, {
      name: plan.name,
      kind,
      context,
      parent,
      startMs: summary.startedAtMs,
      endMs,
      attributes: plan.attributes,
      events: plan.events.map((event) => ({
        name: event.name,
        time: millisToHrTime(event.atMs),
        attributes: limited(event.attributes, source.valueLengthLimit),
        droppedAttributesCount: 0,
      })),
      status:
        plan.error !== undefined
          ? { code: SpanStatusCode.ERROR, message: plan.error }
          : UNSET,
    }),
  ];
  for (const phase of plan.phases)
    spans.push(
      finished(source, {
        name: phase.name,
        kind: SpanKind.INTERNAL,
        context: { ...context, spanId: source.spanId() },
        parent: context,
        startMs: phase.startMs,
        endMs: phase.endMs,
        attributes: {},
        events: [],
        status: UNSET,
      }),
    );
  return spans;
}
