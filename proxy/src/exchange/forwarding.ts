// The exchange's side of forwarding: what the transport is told to do with the upstream's answer (tap it, rewrite
// it) and how each upstream failure becomes the exchange's ending and, before any byte was sent, the client's error
// in its route family's shape.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Backend, BackendPool } from "../backends/pool.ts";
import { sendError, streamErrorTail } from "../errors.ts";
import type {
  ForwardCallbacks,
  ResponseHandling,
  UpstreamFailure,
} from "../http/transport.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { createResponseTap } from "../upstream/response-tap.ts";
import { createResponseRewrite } from "../upstream/rewrite.ts";
import { canResend, type Dispatch } from "./dispatch.ts";
import type { Exchange } from "./state.ts";

export interface CallbackOptions {
  /** Bound on the response text kept per request. */
  readonly maxCaptureChars: number;
  readonly upstreamTimeoutMs: number;
}

/** Where this attempt went, and what to tell the pool about it. */
export interface Attempt {
  readonly backend: Backend;
  readonly pool: BackendPool;
  /** A failure before any response byte: true when the exchange was sent elsewhere (nothing to answer here). */
  readonly retried: (failure: UpstreamFailure) => boolean;
}

// Non-streamed JSON bodies up to this size are parsed whole for their counts; embeddings can be larger.
const MAX_JSON_PARSE_BYTES = 4 * 1024 * 1024;
const MAX_OTHER_JSON_BYTES = 64 * 1024;

function responseHandling(
  ex: Exchange,
  status: number,
  contentType: string | undefined,
  maxCaptureChars: number,
): ResponseHandling {
  const { route } = ex;
  const tap =
    route.inference || route.readsBody || status >= 400
      ? createResponseTap({
          route,
          contentType,
          maxPreviewChars: maxCaptureChars,
          maxJsonBytes: route.inference
            ? MAX_JSON_PARSE_BYTES
            : MAX_OTHER_JSON_BYTES,
          onFirstOutput: () => {
            ex.firstOutputNs ??= process.hrtime.bigint();
          },
        })
      : undefined;
  ex.tap = tap;
  const rewrite = ex.rewrite
    ? createResponseRewrite(ex.rewrite, tap, contentType)
    : undefined;
  if (!tap) return { rewrite };
  if (rewrite?.feedsTap) return { rewrite };
  return {
    rewrite,
    observe: (chunk) => tap.push(chunk),
    onEnd: () => tap.end(),
  };
}

export function forwardCallbacks(
  ex: Exchange,
  res: ServerResponse,
  metrics: Metrics,
  options: CallbackOptions,
  attempt: Attempt,
): ForwardCallbacks {
  const { backend, pool } = attempt;
  let contentType: string | undefined;
  return {
    onResponse(status, headers) {
      ex.status = status;
      contentType = headers["content-type"];
      if (status >= 500) pool.failed(backend, "status_5xx");
      else
        pool.succeeded(
          backend,
          ex.route.inference && status === 200 ? ex.model : undefined,
          ex.conversation,
        );
      return responseHandling(
        ex,
        status,
        headers["content-type"],
        options.maxCaptureChars,
      );
    },
    onResponseBytes(count) {
      ex.responseBytes += count;
    },
    onCutMidBody(atLineStart) {
      const error = `Ollama at ${backend.host} closed the connection mid-response`;
      ex.ending ??= { kind: "upstream_failed", status: ex.status ?? 0, error };
      metrics.upstreamErrors.inc({ reason: "reset", backend: backend.name });
      pool.failed(backend, "reset");
      return streamErrorTail(ex.route.api, contentType, error, atLineStart);
    },
    onFailure(failure) {
      const { reason, error, headersSent } = failure;
      metrics.upstreamErrors.inc({ reason, backend: backend.name });
      if (reason !== "other") pool.failed(backend, reason);
      if (headersSent) {
        ex.ending ??= {
          kind: "upstream_failed",
          status: ex.status ?? 502,
          error: `Ollama connection failed: ${error.message}`,
        };
        return;
      }
      if (attempt.retried(failure)) return;
      const timedOut = reason === "timeout";
      const status = timedOut ? 504 : 502;
      const message = timedOut
        ? `ollama did not answer within ${options.upstreamTimeoutMs} ms`
        : `ollama is unreachable at ${backend.host}: ${error.code ?? error.message}`;
      ex.status = status;
      ex.ending = { kind: "upstream_failed", status, error: message };
      ex.responseBytes += sendError(res, ex.route.api, status, message);
    },
  };
}

export interface ForwardingDeps {
  readonly pool: BackendPool;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly options: CallbackOptions;
}

/**
 * Sends the exchange to `backend` through its transport. With `retryFor`, a failure to connect, a reset or a
 * timeout before any response byte moves the exchange once to the next backend that has that model — the one
 * dispatch chose by, which for `/v1/models/{model}` is the path's, not the body's.
 */
export function sendToBackend(
  deps: ForwardingDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  body: Buffer | undefined,
  backend: Backend,
  { retryFor }: { retryFor?: string },
): void {
  const { pool, metrics } = deps;
  if (!body && !ex.backend) {
    // A body streaming straight through is counted as it passes.
    req.on("data", (chunk: Buffer) => {
      ex.requestBytes += chunk.length;
    });
  }
  if (ex.inFlightLabels) metrics.inFlight.dec(ex.inFlightLabels);
  if (ex.backend) pool.done(ex.backend);
  ex.backend = backend;
  // Which server answered, for the client's own debugging (one backend: nothing to say, nothing added).
  if (pool.several && !res.headersSent)
    res.setHeader("X-Ollama-Backend", backend.name);
  pool.sent(backend);
  ex.inFlightLabels = {
    model: ex.modelLabel,
    endpoint: ex.route.endpoint,
    backend: backend.name,
  };
  metrics.inFlight.inc(ex.inFlightLabels);
  const retried = (failure: UpstreamFailure) => {
    if (retryFor === undefined || failure.reason === "other" || res.destroyed)
      return false;
    const next = pool.choose(retryFor, new Set([backend]));
    const other = next.ok ? next.backends[0] : undefined;
    if (!other) return false;
    metrics.backendRetries.inc({
      backend: backend.name,
      reason: failure.reason,
    });
    deps.logger.warn(
      {
        request_id: ex.id,
        backend: backend.name,
        retry_on: other.name,
        reason: failure.reason,
      },
      "retrying on another backend",
    );
    sendToBackend(deps, req, res, ex, body, other, {});
    return true;
  };
  const rewrites =
    ex.rewrite !== undefined &&
    (ex.rewrite.stripUsage || ex.rewrite.alias !== undefined);
  backend.transport.forward(
    req,
    res,
    { body, rewrites },
    forwardCallbacks(ex, res, metrics, deps.options, {
      backend,
      pool,
      retried,
    }),
  );
}

/** Sends the exchange to the first backend of its plan, retrying elsewhere when the plan and its body allow. */
export function sendPlanned(
  deps: ForwardingDeps,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  body: Buffer | undefined,
  plan: Extract<Dispatch, { kind: "forward" }>,
): void {
  ex.conversation = plan.conversation;
  const first = plan.backends[0] as Backend;
  sendToBackend(deps, req, res, ex, body, first, {
    retryFor: canResend(req, body) ? plan.retryFor : undefined,
  });
}
