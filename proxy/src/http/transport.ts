// Moves one request's bytes to the upstream and its response's bytes back: undici's HTTP/1.1 client over a
// keep-alive pool, driven through its handler API so that no stream object is made per response. Knows HTTP, not
// Ollama: what to observe or rewrite and how to answer a failure are the exchange owner's (exchange/owner.ts)
// decisions, handed in per request as callbacks. Forwards every method, path, query, end-to-end header and body
// byte unchanged; Host is the upstream's (Ollama rejects foreign hosts, reference §9.3) and hop-by-hop headers
// stay on their hop (RFC 9110 §7.6.1). Why undici and not http-proxy-3: docs/performance.md, "The transport".
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from "node:http";
import { PassThrough } from "node:stream";
import { Pool, type Dispatcher } from "undici";

const NEWLINE = 0x0a;

/** Headers of one connection, not of the message (RFC 9110 §7.6.1); undici refuses most of them in a request. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  // Answered by this proxy's server (100 Continue) before the body is read; undici does not send it.
  "expect",
]);

export type UpstreamErrorReason = "timeout" | "connect" | "reset" | "other";

export interface UpstreamFailure {
  readonly reason: UpstreamErrorReason;
  readonly error: NodeJS.ErrnoException;
  /** The client already has the status line: the transport cut its response, nothing more can be said. */
  readonly headersSent: boolean;
}

/** What happens to the response body, chosen by the owner once the upstream's status and headers are known. */
export interface ResponseHandling {
  /** Sees every upstream chunk as it passes to the client unchanged. */
  readonly observe?: (chunk: Buffer) => void;
  /** Replaces the bytes: `push` returns what the client gets for a chunk, `end` the tail. Needs `rewrites`. */
  readonly rewrite?: { push(chunk: Buffer): Buffer; end(): Buffer };
  /** The upstream body ended normally (after the last observe/push). */
  readonly onEnd?: () => void;
}

export interface ForwardCallbacks {
  onResponse(status: number, headers: IncomingHttpHeaders): ResponseHandling;
  /** Bytes written to the client's response body. */
  onResponseBytes(count: number): void;
  /**
   * The upstream closed or failed mid-body. Returns the bytes that end the client's response (an error in the
   * body's framing), or undefined to cut the client's connection. `atLineStart`: every byte sent so far ended
   * with a newline (or none was sent).
   */
  onCutMidBody(atLineStart: boolean): Buffer | undefined;
  /** Connecting, sending or waiting failed. Before headers the owner answers the client; after, it is cut. */
  onFailure(failure: UpstreamFailure): void;
}

export interface ForwardOptions {
  /** The request body already read (maybe rewritten); absent: the client's body streams through as it comes. */
  readonly body?: Buffer;
  /** The owner may rewrite the response body; decided before sending. */
  readonly rewrites: boolean;
}

export interface TransportOptions {
  readonly upstreamUrl: string;
  /** Idle time allowed between upstream bytes; 0 = none (streams may last hours). */
  readonly idleTimeoutMs: number;
}

export interface Transport {
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    options: ForwardOptions,
    callbacks: ForwardCallbacks,
  ): void;
  close(): void;
}

export function upstreamErrorReason(
  error: NodeJS.ErrnoException,
  timedOut: boolean,
): UpstreamErrorReason {
  if (timedOut) return "timeout";
  switch (error.code) {
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EAI_AGAIN":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return "reset";
    default:
      return "other";
  }
}

const TIMEOUTS = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/**
 * A client's headers as a request to an upstream carries them: end-to-end ones only, Host left to the HTTP client
 * (the upstream's). The transport and the fan-out's own requests (backends/backend-request.ts) both send these.
 */
export function endToEndHeaders(
  source: IncomingHttpHeaders,
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const named = connectionNames(source.connection);
  for (const name in source)
    if (name !== "host" && !HOP_BY_HOP.has(name) && !named.includes(name))
      headers[name] = source[name];
  return headers;
}

/** The header names a message's Connection header lists (lower case): hop-by-hop for that message too. */
function connectionNames(
  connection: string | string[] | undefined,
): readonly string[] {
  if (connection === undefined) return [];
  return (Array.isArray(connection) ? connection.join(",") : connection)
    .toLowerCase()
    .split(",")
    .map((name) => name.trim());
}

/**
 * The upstream's headers as it sent them (names in its case, repeats kept), hop-by-hop ones (and those its
 * Connection header names) left out: the client's connection and framing are this server's, which chunks a body
 * of unknown length itself.
 */
function responseHeaders(
  raw: readonly Buffer[],
  connection: string | string[] | undefined,
  dropLength: boolean,
) {
  const out: string[] = [];
  const named = connectionNames(connection);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString("latin1");
    const lower = name.toLowerCase();
    if (
      HOP_BY_HOP.has(lower) ||
      named.includes(lower) ||
      (dropLength && lower === "content-length")
    )
      continue;
    out.push(name, (raw[i + 1] as Buffer).toString("latin1"));
  }
  return out;
}

/** A request body of unknown bytes still to come: declared by a length or chunked. */
function hasStreamedBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (
    req.headers["transfer-encoding"] !== undefined ||
    (length !== undefined && length !== "0")
  );
}

/** One exchange's response, as undici's handler callbacks deliver it. */
class ResponseRelay implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private handling: ResponseHandling | undefined;
  private atLineStart = true;
  private settled = false;
  private clientGone = false;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly rewrites: boolean;
  private readonly callbacks: ForwardCallbacks;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    rewrites: boolean,
    callbacks: ForwardCallbacks,
  ) {
    this.req = req;
    this.res = res;
    this.rewrites = rewrites;
    this.callbacks = callbacks;
    // A client that leaves ends the upstream request too: Ollama stops generating for nobody.
    res.once("close", () => {
      if (this.settled) return;
      this.clientGone = true;
      this.controller?.abort(new Error("the client closed the connection"));
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone)
      controller.abort(new Error("the client closed the connection"));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const handling = this.callbacks.onResponse(statusCode, headers);
    this.handling = handling;
    const raw = controller.rawHeaders;
    const outgoing: OutgoingHttpHeaders | string[] = Array.isArray(raw)
      ? responseHeaders(
          raw as Buffer[],
          headers.connection,
          this.rewrites && handling.rewrite !== undefined,
        )
      : headers;
    this.res.writeHead(statusCode, statusMessage, outgoing);
    this.res.on("drain", () => controller.resume());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    const { handling } = this;
    handling?.observe?.(chunk);
    const out =
      this.rewrites && handling?.rewrite ? handling.rewrite.push(chunk) : chunk;
    if (out.length === 0) return;
    this.callbacks.onResponseBytes(out.length);
    this.atLineStart = out[out.length - 1] === NEWLINE;
    if (!this.res.write(out)) controller.pause();
  }

  onResponseEnd(): void {
    this.settled = true;
    const { handling, res } = this;
    const rest = this.rewrites ? handling?.rewrite?.end() : undefined;
    handling?.onEnd?.();
    if (rest && rest.length > 0) {
      this.callbacks.onResponseBytes(rest.length);
      res.end(rest);
    } else res.end();
  }

  onResponseError(
    _controller: Dispatcher.DispatchController | null,
    error: Error,
  ): void {
    this.settled = true;
    const { req, res, callbacks } = this;
    if (this.clientGone || res.destroyed || res.writableEnded) return; // the client left first
    if (!res.headersSent && req.socket.destroyed) return;
    const code = (error as NodeJS.ErrnoException).code ?? "";
    const timedOut = TIMEOUTS.has(code);
    if (!res.headersSent || timedOut) {
      callbacks.onFailure({
        reason: upstreamErrorReason(error, timedOut),
        error,
        headersSent: res.headersSent,
      });
      if (res.headersSent) res.destroy();
      return;
    }
    // The upstream closed or failed mid-body: end the client's body in its framing, or cut it.
    const tail = callbacks.onCutMidBody(this.atLineStart);
    if (tail) res.end(tail);
    else res.destroy();
  }
}

export function createTransport(options: TransportOptions): Transport {
  const target = new URL(options.upstreamUrl);
  // A path prefix in the upstream URL is kept in front of every request's path.
  const prefix = target.pathname.replace(/\/+$/, "");
  const pool = new Pool(target.origin, {
    // As many connections as requests in flight (streams may last minutes); idle ones are kept for reuse.
    connections: null,
    pipelining: 1,
    headersTimeout: options.idleTimeoutMs,
    bodyTimeout: options.idleTimeoutMs,
  });

  return {
    forward(req, res, forwardOptions, callbacks) {
      let body: Buffer | PassThrough | null = forwardOptions.body ?? null;
      if (!body && hasStreamedBody(req)) {
        // undici starts reading once it has a connection; the pipe holds what arrives before (paced by its buffer).
        body = new PassThrough();
        req.pipe(body);
      }
      pool.dispatch(
        {
          origin: target.origin,
          path: prefix + (req.url ?? "/"),
          method: req.method ?? "GET",
          headers: endToEndHeaders(req.headers),
          body,
        },
        new ResponseRelay(req, res, forwardOptions.rewrites, callbacks),
      );
    },
    close() {
      void pool.destroy();
    },
  };
}
