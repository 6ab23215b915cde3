// Moves one request's bytes to the upstream and its response's bytes back: http-proxy-3 over a keep-alive pool.
// Knows HTTP, not Ollama: what to observe or rewrite and how to answer a failure are the exchange owner's
// (exchange/owner.ts) decisions, handed in per request as callbacks. Forwards every method, path, query, header
// and body byte unchanged, Host aside (changeOrigin: Ollama rejects foreign hosts, reference §9.3).
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Stream } from "node:stream";
import { createProxyServer } from "http-proxy-3";

const NEWLINE = 0x0a;

/**
 * A body already read, in the one shape http-proxy-3 uses its `buffer` option (`buffer.pipe(proxyReq)`): the bytes
 * go out with the request's head in one write. `Readable.from` made a stream, an async iterator and their
 * listeners for every POST (measured: ~25 µs of CPU per `/api/generate`).
 */
function bodyOf(bytes: Buffer): Stream {
  const body = {
    pipe<T extends NodeJS.WritableStream>(destination: T): T {
      destination.end(bytes);
      return destination;
    },
  };
  return body as unknown as Stream;
}

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
  /** The owner may rewrite the response body; decided before sending (http-proxy-3's selfHandleResponse). */
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

interface InFlight {
  readonly callbacks: ForwardCallbacks;
  readonly rewrites: boolean;
  timedOut: boolean;
}

// http-proxy-3's events are server-wide; each names the request, which carries its own callbacks. Not a WeakMap:
// a request held by a long-lived table while in flight is promoted to the old generation (docs/performance.md).
const IN_FLIGHT = Symbol("transport.inFlight");
type Forwarded = IncomingMessage & { [IN_FLIGHT]?: InFlight };
const inFlightOf = (req: IncomingMessage): InFlight | undefined =>
  (req as Forwarded)[IN_FLIGHT];

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
      return "connect";
    case "ECONNRESET":
    case "EPIPE":
      return "reset";
    default:
      return "other";
  }
}

export function createTransport(options: TransportOptions): Transport {
  const target = new URL(options.upstreamUrl);
  const agentOptions = {
    keepAlive: true,
    maxSockets: Infinity,
    maxFreeSockets: 512,
    scheduling: "lifo" as const,
  };
  // http-proxy-3 opens a new upstream connection per request without an agent; pooling is ~10× faster.
  const agent =
    target.protocol === "https:"
      ? new https.Agent(agentOptions)
      : new http.Agent(agentOptions);
  const proxy = createProxyServer({
    target: options.upstreamUrl,
    agent,
    changeOrigin: true,
    xfwd: false,
    preserveHeaderKeyCase: true,
  });

  proxy.on("proxyReq", (proxyReq, req) => {
    proxyReq.setNoDelay?.(true);
    if (options.idleTimeoutMs > 0) {
      proxyReq.setTimeout(options.idleTimeoutMs, () => {
        const state = inFlightOf(req);
        if (state) state.timedOut = true;
        proxyReq.destroy(
          new Error(`no bytes from upstream for ${options.idleTimeoutMs} ms`),
        );
      });
    }
  });

  proxy.on("proxyRes", (proxyRes, req, res) => {
    const state = inFlightOf(req);
    if (!state) return;
    const { callbacks } = state;
    const handling = callbacks.onResponse(
      proxyRes.statusCode ?? 0,
      proxyRes.headers,
    );
    // http-proxy pipes the body but does not end the client's response when the upstream dies mid-body.
    let atLineStart = true;
    const onCut = () => {
      // A client that left first ends the upstream response too (http-proxy-3 destroys it): not Ollama's failure.
      if (res.writableEnded || res.destroyed) return;
      const tail = callbacks.onCutMidBody(atLineStart);
      if (tail && res.headersSent) {
        proxyRes.unpipe(res);
        res.end(tail);
      } else res.destroy();
    };
    proxyRes.on("error", onCut);
    proxyRes.on("close", () => {
      if (!proxyRes.complete) onCut();
    });

    if (!state.rewrites) {
      const { observe, onEnd } = handling;
      proxyRes.on("data", (chunk: Buffer) => {
        callbacks.onResponseBytes(chunk.length);
        atLineStart = chunk[chunk.length - 1] === NEWLINE;
        observe?.(chunk);
      });
      if (onEnd) proxyRes.on("end", onEnd);
      return;
    }
    const { rewrite, observe, onEnd } = handling;
    const headers = { ...proxyRes.headers };
    if (rewrite) delete headers["content-length"];
    delete headers["transfer-encoding"];
    res.writeHead(proxyRes.statusCode ?? 0, proxyRes.statusMessage, headers);
    proxyRes.on("data", (chunk: Buffer) => {
      observe?.(chunk);
      const out = rewrite ? rewrite.push(chunk) : chunk;
      if (out.length === 0) return;
      callbacks.onResponseBytes(out.length);
      atLineStart = out[out.length - 1] === NEWLINE;
      if (!res.write(out)) proxyRes.pause();
    });
    res.on("drain", () => proxyRes.resume());
    proxyRes.on("end", () => {
      const rest = rewrite ? rewrite.end() : undefined;
      onEnd?.();
      if (rest && rest.length > 0) {
        callbacks.onResponseBytes(rest.length);
        res.end(rest);
      } else res.end();
    });
  });

  const onProxyError = (
    error: NodeJS.ErrnoException,
    req: IncomingMessage,
    res: ServerResponse | Socket,
  ) => {
    const state = inFlightOf(req);
    if (!state || !("writeHead" in res)) return;
    if (res.destroyed || (req.socket.destroyed && !res.headersSent)) return; // the client left first
    const failure: UpstreamFailure = {
      reason: upstreamErrorReason(error, state.timedOut),
      error,
      headersSent: res.headersSent,
    };
    state.callbacks.onFailure(failure);
    if (failure.headersSent) res.destroy();
  };

  return {
    forward(req, res, forwardOptions, callbacks) {
      const { rewrites } = forwardOptions;
      (req as Forwarded)[IN_FLIGHT] = { callbacks, rewrites, timedOut: false };
      proxy.web(
        req,
        res,
        {
          buffer: forwardOptions.body ? bodyOf(forwardOptions.body) : undefined,
          selfHandleResponse: rewrites,
        },
        onProxyError,
      );
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
