// An exchange's span plan (exchange-span.ts) as the finished spans an OpenTelemetry exporter reads: the exchange's
// span under the client's parent, and Ollama's phases under it. The exchange is over when its spans are made, so
// they are built finished, as plain `ReadableSpan`s for the SDK's batch processor and exporter, rather than started
// and ended through its `Tracer`, whose live `Span` (clock anchoring, attribute sanitising, contexts, limits) is
// work for spans whose end is not known yet: an `/api/generate`'s five spans, serialised, cost 23–47 µs that way
// and 11–12 µs this way (bench/micro/span-cost.ts; 14–18 µs before the spans were one class).
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  createTraceState,
  type HrTime,
  type SpanContext,
  type SpanStatus,
  type TraceState,
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
// Shared by every span that has none (the exporter only reads them).
const NO_LINKS: ReadableSpan["links"] = Object.freeze([]) as never;
const NO_EVENTS: ReadableSpan["events"] = Object.freeze([]) as never;
const NO_ATTRIBUTES: Attributes = Object.freeze({});

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

/**
 * A span that is over when it is made. A class rather than an object literal per span, and shared empty parts:
 * the exporter reads thousands a second, all of one shape, and `spanContext` and `duration` need no closure or
 * array of their own (9 % fewer bytes allocated per `/api/generate`; most of the rest is the serialiser's).
 */
class FinishedSpan implements ReadableSpan {
  readonly links = NO_LINKS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanContext: SpanContext | undefined;
  readonly startTime: HrTime;
  readonly endTime: HrTime;
  readonly attributes: Attributes;
  readonly events: ReadableSpan["events"];
  readonly status: SpanStatus;
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly #context: SpanContext;

  constructor(
    source: SpanSource,
    name: string,
    kind: SpanKind,
    context: SpanContext,
    parent: SpanContext | undefined,
    startMs: number,
    endMs: number,
    attributes: Attributes,
    events: ReadableSpan["events"],
    status: SpanStatus,
  ) {
    this.name = name;
    this.kind = kind;
    this.#context = context;
    this.parentSpanContext = parent;
    this.startTime = millisToHrTime(startMs);
    this.endTime = millisToHrTime(Math.max(startMs, endMs));
    this.attributes = attributes;
    this.events = events;
    this.status = status;
    this.resource = source.resource;
    this.instrumentationScope = source.scope;
  }

  spanContext(): SpanContext {
    return this.#context;
  }

  get duration(): HrTime {
    return hrTimeDuration(this.startTime, this.endTime);
  }
}

/** The exchange's span as the request thread drew it (its record and exemplar carry the same ids). */
export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
}

/** Every context of one shape, as the spans are (the exporter reads them all at the same sites). */
function spanContext(
  traceId: string,
  spanId: string,
  traceState: TraceState | undefined,
  isRemote: boolean,
): SpanContext {
  return {
    traceId,
    spanId,
    traceFlags: TraceFlags.SAMPLED,
    traceState,
    isRemote,
  };
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
  const context = spanContext(ids.traceId, ids.spanId, traceState, false);
  const parent =
    summary.traceParentId !== undefined
      ? spanContext(ids.traceId, summary.traceParentId, traceState, true)
      : undefined;
  const spans: ReadableSpan[] = [
    new FinishedSpan(
      source,
      plan.name,
      kind,
      context,
      parent,
      summary.startedAtMs,
      endMs,
      limited(plan.attributes, source.valueLengthLimit),
      plan.events.length === 0
        ? NO_EVENTS
        : plan.events.map((event) => ({
            name: event.name,
            time: millisToHrTime(event.atMs),
            attributes: limited(event.attributes, source.valueLengthLimit),
            droppedAttributesCount: 0,
          })),
      plan.error !== undefined
        ? { code: SpanStatusCode.ERROR, message: plan.error }
        : UNSET,
    ),
  ];
  for (const phase of plan.phases) {
    const phaseContext = spanContext(
      ids.traceId,
      source.spanId(),
      traceState,
      false,
    );
    spans.push(
      new FinishedSpan(
        source,
        phase.name,
        SpanKind.INTERNAL,
        phaseContext,
        context,
        phase.startMs,
        phase.endMs,
        NO_ATTRIBUTES,
        NO_EVENTS,
        UNSET,
      ),
    );
  }
  return spans;
}
