// What the owner knows about one exchange while it is in flight, and the summary it becomes at the finish.
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Backend } from "../backends/pool.ts";
import { OTHER_MODEL, type ModelAllowList } from "../metrics/model-label.ts";
import type { ResponseTap } from "../upstream/response-tap.ts";
import type { RequestRewrite } from "../upstream/rewrite.ts";
import type { RequestInfo, Route } from "../upstream/types.ts";
import { decideOutcome, type Ending, type ExchangeSummary } from "./outcome.ts";

/** The exchange's span, as the request thread started it (tracing/trace-start.ts). */
export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
  readonly sampled: boolean;
  /** The client's span, when it sent a traceparent. */
  readonly parentSpanId?: string;
  readonly traceState?: string;
}

export interface Exchange {
  readonly id: string;
  readonly route: Route;
  readonly path: string;
  /** Tracing on: the exchange's span. */
  readonly trace: TraceIds | undefined;
  readonly startNs: bigint;
  readonly startedAtMs: number;
  readonly clientIp: string;
  request: RequestInfo;
  /** Normalised; after an alias, the model that serves it. */
  model: string;
  modelLabel: string;
  client: string;
  inFlightLabels:
    { model: string; endpoint: string; backend: string } | undefined;
  /** The backend the exchange went to (the last one, after a retry); undefined when none was chosen. */
  backend: Backend | undefined;
  /** The conversation it belongs to, when backend affinity applies (dispatch.ts). */
  conversation: string | undefined;
  requestBytes: number;
  responseBytes: number;
  status: number | undefined;
  firstOutputNs: bigint | undefined;
  tap: ResponseTap | undefined;
  rewrite: Pick<RequestRewrite, "alias" | "stripUsage"> | undefined;
  ending: Ending | undefined;
  finished: boolean;
  release: ((summary: ExchangeSummary) => void) | undefined;
  /** Aborted at the finish, for an admission still waiting; created when an admission asks for its signal. */
  abort: AbortController | undefined;
  /** The parsed request body, when it is a JSON object. */
  json: Record<string, unknown> | undefined;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The client's X-Request-Id when it is printable ASCII of a sane length, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers["x-request-id"];
  return typeof incoming === "string" && REQUEST_ID.test(incoming)
    ? incoming
    : randomUUID();
}

export function headerText(
  req: IncomingMessage,
  name: string | undefined,
  max = 256,
): string {
  if (!name) return "";
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text ? text.trim().slice(0, max) : "";
}

export function summarize(
  req: IncomingMessage,
  ex: Exchange,
  models: ModelAllowList,
  wasLoadedAt?: (backend: string, model: string, atMs: number) => boolean,
): ExchangeSummary {
  const endNs = process.hrtime.bigint();
  const tap = ex.tap?.result();
  const ending = ex.ending ?? { kind: "completed" };
  const decided = decideOutcome({
    ending,
    status: ex.status,
    responseFinished: ending.kind === "completed",
    streamed: ex.request.stream,
    route: ex.route,
    tap,
  });
  const status =
    ending.kind === "completed" || ending.kind === "client_closed"
      ? ex.status
      : ending.status;
  // A model Ollama just served is real even if /api/tags has not been re-read since it was pulled.
  let modelLabel = ex.modelLabel;
  if (
    decided.outcome === "ok" &&
    ex.route.inference &&
    modelLabel === OTHER_MODEL &&
    ex.model !== ""
  ) {
    models.admit(ex.model);
    modelLabel = models.label(ex.model);
  }
  return {
    requestId: ex.id,
    ...(ex.trace && {
      traceId: ex.trace.traceId,
      spanId: ex.trace.spanId,
      traceSampled: ex.trace.sampled,
      ...(ex.trace.parentSpanId !== undefined && {
        traceParentId: ex.trace.parentSpanId,
      }),
      ...(ex.trace.traceState !== undefined && {
        traceState: ex.trace.traceState,
      }),
    }),
    route: ex.route,
    path: ex.path,
    method: req.method ?? "GET",
    startedAtMs: ex.startedAtMs,
    durationSeconds: Number(endNs - ex.startNs) / 1e9,
    ttftSeconds:
      ex.request.stream && ex.firstOutputNs !== undefined
        ? Number(ex.firstOutputNs - ex.startNs) / 1e9
        : undefined,
    status,
    statusLabel: decided.statusLabel,
    outcome: decided.outcome,
    error: decided.error,
    rejectReason: ending.kind === "rejected" ? ending.reason : undefined,
    request: ex.request,
    model: ex.model,
    modelLabel,
    backend: ex.backend?.name ?? "",
    ...(ex.backend && {
      serverAddress: ex.backend.address,
      serverPort: ex.backend.port,
    }),
    ...(ex.route.inference &&
      wasLoadedAt &&
      ex.backend &&
      ex.model !== "" && {
        modelWarm: wasLoadedAt(ex.backend.name, ex.model, ex.startedAtMs),
      }),
    tap,
    requestBytes: ex.requestBytes,
    responseBytes: ex.responseBytes,
    clientIp: ex.clientIp,
    userAgent: headerText(req, "user-agent", 512),
    client: ex.client,
  };
}
