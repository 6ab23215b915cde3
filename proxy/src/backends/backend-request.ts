// One plain HTTP request to one backend, for the answers the proxy assembles from several (merged lists, model
// management sent to every backend). The hot path uses the backend's transport instead.
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
} from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { endToEndHeaders } from "../http/transport.ts";
import type { Backend } from "./pool.ts";

export interface BackendRequest {
  readonly method: string;
  /** Origin-form: path and query. */
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body: bytes already read, or a stream to copy (several backends may read one stream). */
  readonly body?: Buffer | Readable;
  /** Gives up when no byte arrives for this long (0 = never). */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** The backend sent nothing for `idleTimeoutMs`: a timeout for its health, unlike a plain failure. */
export class BackendIdleTimeout extends Error {}

/** Resolves with the backend's response (body unread); rejects when connecting or sending fails. */
export function requestBackend(
  backend: Backend,
  request: BackendRequest,
): Promise<IncomingMessage> {
  const url = new URL(request.path, `${backend.url}/`);
  const base = new URL(backend.url);
  // The backend's own path prefix is kept, as the transport keeps it.
  url.pathname = `${base.pathname.replace(/\/+$/, "")}${request.path.split("?")[0]}`;
  const headers = endToEndHeaders(request.headers);
  if (Buffer.isBuffer(request.body))
    headers["content-length"] = String(request.body.length);
  const send = url.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(url, {
      method: request.method,
      headers,
      signal: request.signal,
    });
    if (request.idleTimeoutMs > 0)
      req.setTimeout(request.idleTimeoutMs, () =>
        req.destroy(
          new BackendIdleTimeout(
            `no bytes from ${backend.name} for ${request.idleTimeoutMs} ms`,
          ),
        ),
      );
    req.once("response", resolve);
    req.once("error", reject);
    const { body } = request;
    if (body === undefined || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** The whole body, up to `maxBytes` (the rest is dropped). */
export async function readBackendBody(
  res: IncomingMessage,
  maxBytes: number,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size < maxBytes) chunks.push(chunk.subarray(0, maxBytes - size));
    size += chunk.length;
  }
  return Buffer.concat(chunks);
}
