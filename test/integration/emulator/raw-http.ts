// Raw HTTP for the emulator's wire-format tests: exact status, headers and bytes, no client
// library in between (fetch would hide framing and forbid a custom Host header).
import { request } from "node:http";
import type { IncomingHttpHeaders } from "node:http";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method?: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

export function raw(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const url = new URL(req.path, baseUrl);
  // Node only frames a DELETE body when told its length.
  const headers =
    req.body === undefined
      ? req.headers
      : {
          "content-length": String(Buffer.byteLength(req.body)),
          ...req.headers,
        };
  return new Promise((resolve, reject) => {
    const r = request(
      url,
      {
        method: req.method ?? (req.body === undefined ? "GET" : "POST"),
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

export function postJson(
  baseUrl: string,
  path: string,
  body: unknown,
  headers?: Record<string, string>,
) {
  return raw(baseUrl, {
    path,
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers,
  });
}

/** NDJSON lines, asserting every line is terminated and non-empty. */
export function ndjson(body: string): Record<string, unknown>[] {
  if (!body.endsWith("\n"))
    throw new Error(`NDJSON body does not end with \\n: ${body.slice(-80)}`);
  return body
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export interface SseFrame {
  event: string | undefined;
  data: string;
}

/** SSE frames (`event:` optional, one `data:` line each, blank-line separated). */
export function sse(body: string): SseFrame[] {
  if (body !== "" && !body.endsWith("\n\n"))
    throw new Error(`SSE body not frame-terminated: ${body.slice(-80)}`);
  return body
    .split("\n\n")
    .filter((f) => f !== "")
    .map((frame) => {
      let event: string | undefined;
      let data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data = line.slice(6);
        else throw new Error(`unexpected SSE line: ${line}`);
      }
      return { event, data };
    });
}

/** The JSON payloads of SSE frames, [DONE] excluded. */
export function sseJson(body: string): Record<string, unknown>[] {
  return sse(body)
    .filter((f) => f.data !== "[DONE]")
    .map((f) => JSON.parse(f.data) as Record<string, unknown>);
}

export async function waitFor(
  check: () => boolean,
  timeoutMs = 2000,
): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error("waitFor: timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}
