// Per-request state: start, first output (TTFT), end, outcome → ExchangeSummary. Finalisation runs exactly
// once, whichever comes first: the response's end, the client closing, or an upstream error.
import type { RequestInfo, Route } from "../upstream/types.ts";
import type { TapResult } from "../upstream/response-tap.ts";

export type Outcome =
  | "ok"
  | "upstream_error"
  | "stream_error"
  | "client_aborted"
  | "rejected"
  | "proxy_error";

/** How the exchange ended, as seen by the proxy's handler. */
export type Ending =
  | { kind: "completed" }
  | { kind: "client_closed" }
  | { kind: "upstream_failed"; status: number; error: string }
  | { kind: "rejected"; status: number; error: string; reason: string }
  | { kind: "proxy_failed"; status: number; error: string };

export interface ExchangeSummary {
  readonly requestId: string;
  /** The exchange's span (tracing on): W3C trace id and span id, lower-case hex. */
  readonly traceId?: string;
  readonly spanId?: string;
  /** The span is recorded and exported (not sampled out): its trace can be opened. */
  readonly traceSampled?: boolean;
  /** The client's span and trace state (W3C traceparent/tracestate), when it sent them. */
  readonly traceParentId?: string;
  readonly traceState?: string;
  readonly route: Route;
  /** The decoded path Ollama routes (no query); the route template for a refused target. */
  readonly path: string;
  readonly method: string;
  /** Unix epoch milliseconds when the request arrived. */
  readonly startedAtMs: number;
  readonly durationSeconds: number;
  /** Streaming only: request received → first chunk with content, thinking or a tool call. */
  readonly ttftSeconds: number | undefined;
  /** The HTTP status the client got; undefined when the client left before any response. */
  readonly status: number | undefined;
  /** The metrics `status` label: the status code, "stream_error", or "499" when the client left first. */
  readonly statusLabel: string;
  readonly outcome: Outcome;
  readonly error: string | undefined;
  readonly rejectReason: string | undefined;
  readonly request: RequestInfo;
  /** Normalised model name (`llama3.2` → `llama3.2:latest`); "" when the route has none. */
  readonly model: string;
  /** The bounded metric label for the model: a known model, "_other", or "". */
  readonly modelLabel: string;
  /** The backend (OLLAMA_BACKENDS name, "default" for OLLAMA_URL) that served it; "" when none was chosen. */
  readonly backend: string;
  /** That backend's host and port (span attributes server.address / server.port). */
  readonly serverAddress?: string;
  readonly serverPort?: number;
  /** Inference: the model was already loaded when the request arrived (Ollama's /api/ps), so no load was in it. */
  readonly modelWarm?: boolean;
  readonly tap: TapResult | undefined;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly clientIp: string;
  readonly userAgent: string;
  readonly client: string;
}

export interface OutcomeInput {
  readonly ending: Ending;
  readonly status: number | undefined;
  readonly responseFinished: boolean;
  readonly streamed: boolean;
  readonly route: Route;
  readonly tap: TapResult | undefined;
}

/** Decides outcome, status label and error text. Pure. */
export function decideOutcome(input: OutcomeInput): {
  outcome: Outcome;
  statusLabel: string;
  error: string | undefined;
} {
  const { ending, status, tap } = input;
  switch (ending.kind) {
    case "rejected":
      return {
        outcome: "rejected",
        statusLabel: String(ending.status),
        error: ending.error,
      };
    case "proxy_failed":
      return {
        outcome: "proxy_error",
        statusLabel: String(ending.status),
        error: ending.error,
      };
    case "upstream_failed":
      return {
        outcome: "upstream_error",
        statusLabel: String(ending.status),
        error: ending.error,
      };
    case "client_closed":
      if (input.responseFinished) break;
      return {
        outcome: "client_aborted",
        statusLabel: status === undefined ? "499" : String(status),
        error: "client closed the connection before the response ended",
      };
    case "completed":
      break;
  }
  const code = status ?? 0;
  if (code >= 400) {
    return {
      outcome: "upstream_error",
      statusLabel: String(code),
      error: tap?.error ?? `HTTP ${code}`,
    };
  }
  if (tap?.error !== undefined) {
    return {
      outcome: "stream_error",
      statusLabel: "stream_error",
      error: tap.error,
    };
  }
  // A token stream that ended without its protocol-level end (done:true, [DONE]) was cut off upstream.
  const expectsEnd =
    input.route.inference && tap !== undefined && tap.framing !== "none";
  if (code >= 200 && code < 300 && expectsEnd && !tap.done) {
    const error = input.streamed
      ? "stream ended before its final chunk"
      : "response body ended before it was complete";
    return { outcome: "stream_error", statusLabel: "stream_error", error };
  }
  return { outcome: "ok", statusLabel: String(code), error: undefined };
}
