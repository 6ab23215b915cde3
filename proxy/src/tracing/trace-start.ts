// The request thread's whole part in tracing: at accept, continue the client's W3C trace context (or start a
// trace), draw the exchange's span id and take the sampling decision. Everything else — the span, its attributes
// and phases, the export — happens later, from the finished exchange, on the analytics thread (span-export.ts),
// so that tracing costs the forwarding thread a few microseconds per request.
import type { IncomingHttpHeaders } from "node:http";
import { ROOT_CONTEXT, defaultTextMapGetter, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { RandomIdGenerator, SamplingDecision } from "@opentelemetry/sdk-trace";
import type { TraceIds } from "../exchange/state.ts";
import type { Route } from "../upstream/types.ts";
import { spanKindOf } from "./exchange-span.ts";
import { samplerOf } from "./sampler.ts";
import type { TracingSettings } from "./settings.ts";

export interface TraceStarter {
  begin(headers: IncomingHttpHeaders, route: Route): TraceIds;
}

export function createTraceStarter(settings: TracingSettings): TraceStarter {
  const propagator = new W3CTraceContextPropagator();
  const ids = new RandomIdGenerator();
  const sampler = samplerOf(settings.sampler, settings.samplerRatio);
  return {
    begin(headers, route) {
      const context =
        headers.traceparent === undefined
          ? ROOT_CONTEXT
          : propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
      const parent = trace.getSpanContext(context);
      const traceId =
        parent && trace.isSpanContextValid(parent)
          ? parent.traceId
          : ids.generateTraceId();
      const decision = sampler.shouldSample(
        context,
        traceId,
        "",
        spanKindOf(route),
        {},
        [],
      ).decision;
      return {
        traceId,
        spanId: ids.generateSpanId(),
        sampled: decision === SamplingDecision.RECORD_AND_SAMPLED,
        ...(parent &&
          trace.isSpanContextValid(parent) && {
            parentSpanId: parent.spanId,
            ...(parent.traceState && {
              traceState: parent.traceState.serialize(),
            }),
          }),
      };
    },
  };
}
