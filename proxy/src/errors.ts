// Errors the proxy itself answers with, in the shape the client's API expects: Ollama's {"error": …}, OpenAI's
// error object on /v1/*, Anthropic's on /v1/messages (reference/ollama-api.md §5). Never a stack trace.
import type { ServerResponse } from "node:http";
import type { Api } from "./upstream/types.ts";

function openAiType(status: number): string {
  if (status === 400 || status === 413) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 429) return "rate_limit_error";
  return "api_error";
}

export function errorBody(api: Api, status: number, message: string): string {
  switch (api) {
    case "openai":
      return JSON.stringify({
        error: { message, type: openAiType(status), param: null, code: null },
      });
    case "anthropic":
      return JSON.stringify({
        type: "error",
        error: { type: openAiType(status), message },
      });
    case "ollama":
      return JSON.stringify({ error: message });
  }
}

/** Answers with an error unless a response is already under way; returns the body's byte length. */
export function sendError(
  res: ServerResponse,
  api: Api,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): number {
  if (res.headersSent || res.destroyed) return 0;
  const body = errorBody(api, status, message);
  const length = Buffer.byteLength(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(length),
  });
  res.end(body);
  return length;
}

/**
 * The bytes that end a stream the upstream cut, in its framing, so that the client's library raises the message
 * instead of a protocol error: an `{"error": …}` line on Ollama's NDJSON (as Ollama ends a failed stream), an
 * error event on SSE (OpenAI's error object; Anthropic's `event: error`). Undefined for other bodies.
 */
export function streamErrorTail(
  api: Api,
  contentType: string | undefined,
  message: string,
  atLineStart: boolean,
): Buffer | undefined {
  const lead = atLineStart ? "" : "\n";
  if (contentType?.includes("application/x-ndjson"))
    return Buffer.from(`${lead}${errorBody("ollama", 500, message)}\n`);
  if (!contentType?.includes("text/event-stream")) return undefined;
  // An SSE event ends at a blank line: a cut event is closed before the error one.
  const close = atLineStart ? "\n" : "\n\n";
  return Buffer.from(
    api === "anthropic"
      ? `${close}event: error\ndata: ${errorBody(api, 500, message)}\n\n`
      : `${close}data: ${errorBody("openai", 500, message)}\n\n`,
  );
}
