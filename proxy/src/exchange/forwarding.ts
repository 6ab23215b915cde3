// The exchange's side of forwarding: what the transport is told to do with the upstream's answer (tap it, rewrite
// it) and how each upstream failure becomes the exchange's ending and, before any byte was sent, the client's error
// in its route family's shape.
import type { ServerResponse } from "node:http";
import { sendError } from "../errors.ts";
import type { ForwardCallbacks, ResponseHandling } from "../http/transport.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { createResponseTap } from "../upstream/response-tap.ts";
import { createResponseRewrite } from "../upstream/rewrite.ts";
import type { Exchange } from "./state.ts";

export interface CallbackOptions {
  /** Bound on the response text kept per request. */
  readonly maxCaptureChars: number;
  readonly upstreamTimeoutMs: number;
  readonly upstreamHost: string;
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
): ForwardCallbacks {
  return {
    onResponse(status, headers) {
      ex.status = status;
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
    onCutMidBody() {
      ex.ending ??= {
        kind: "upstream_failed",
        status: ex.status ?? 0,
        error: "Ollama closed the connection mid-response",
      };
      metrics.upstreamErrors.inc({ reason: "reset" });
    },
    onFailure({ reason, error, headersSent }) {
      metrics.upstreamErrors.inc({ reason });
      if (headersSent) {
        ex.ending ??= {
          kind: "upstream_failed",
          status: ex.status ?? 502,
          error: `Ollama connection failed: ${error.message}`,
        };
        return;
      }
      const timedOut = reason === "timeout";
      const status = timedOut ? 504 : 502;
      const message = timedOut
        ? `ollama did not answer within ${options.upstreamTimeoutMs} ms`
        : `ollama is unreachable at ${options.upstreamHost}: ${error.code ?? error.message}`;
      ex.status = status;
      ex.ending = { kind: "upstream_failed", status, error: message };
      ex.responseBytes += sendError(res, ex.route.api, status, message);
    },
  };
}
