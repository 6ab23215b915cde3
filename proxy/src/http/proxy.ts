// The forwarding path: http-proxy-3 with a keep-alive pool, plus one tap per exchange. Forwards every method,
// path, query, header and body byte unchanged (Host aside: Ollama rejects foreign hosts, reference §9.3); the
// only deliberate change is the include_usage request on OpenAI streams, whose extra frames are removed again.
// No protocol knowledge here: parsing lives in upstream/, per-request state in tap/.
import { randomUUID } from "node:crypto";
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { createProxyServer } from "http-proxy-3";
import { createModelRewriter, rewriteModelField } from "../models/aliases.ts";
import { sendError } from "../errors.ts";
import type { HostPolicy } from "./allowed-hosts.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { OTHER_MODEL, type ModelAllowList } from "../metrics/model-label.ts";
import { normalizeModel } from "../models/model-names.ts";
import {
  decideOutcome,
  type Ending,
  type ExchangeSummary,
} from "../tap/exchange.ts";
import {
  createResponseTap,
  framingOf,
  type ResponseTap,
} from "../tap/response-tap.ts";
import {
  EMPTY_REQUEST,
  describeRequest,
  parseJsonObject,
  withIncludeUsage,
} from "../upstream/request.ts";
import {
  apiFamilyOf,
  parseRequestTarget,
  type RequestTarget,
} from "../upstream/request-target.ts";
import { matchRoute, otherRoute } from "../upstream/routes.ts";
import { refusalOf } from "./refusal.ts";
import type { RequestInfo, Route } from "../upstream/types.ts";

export interface ProxyOptions {
  readonly ollamaUrl: string;
  /** Idle time allowed between upstream bytes; 0 = none (streams may last hours). */
  readonly upstreamTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly injectStreamUsage: boolean;
  /** Bound on the prompt and response text kept per request. */
  readonly maxCaptureChars: number;
  /** Lower-case header carrying a trusted client name (e.g. x-openwebui-user-name). */
  readonly clientHeader: string | undefined;
}

/** What an admission check (keys, limits) may answer before a request is forwarded. */
export type Admission =
  | {
      ok: true;
      client?: string;
      release?: (summary: ExchangeSummary) => void;
      headers?: Record<string, string>;
    }
  | {
      ok: false;
      status: number;
      message: string;
      reason: string;
      headers?: Record<string, string>;
    };

export interface AdmissionContext {
  readonly req: IncomingMessage;
  readonly route: Route;
  readonly request: RequestInfo;
  /** The model as the client named it (normalised), before any alias is resolved. */
  readonly model: string;
  readonly clientIp: string;
  /** The parsed request body, when it is a JSON object. */
  readonly json?: Record<string, unknown>;
}

export interface ProxyDeps {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly models: ModelAllowList;
  readonly clientIpOf: (req: IncomingMessage) => string;
  /** Called once per exchange, after the client's response has ended or failed. */
  readonly onExchange: (summary: ExchangeSummary) => void;
  /** Called after a request that changes the installed models succeeded. */
  readonly onModelsChanged?: () => void;
  readonly admit?: (
    context: AdmissionContext,
  ) => Admission | Promise<Admission>;
  /** Removes the proxy's own credentials from a request that was admitted, before it goes to Ollama. */
  readonly stripCredentials?: (headers: IncomingHttpHeaders) => void;
  /** MODEL_ALIASES: the real model behind a client-facing name. */
  readonly resolveAlias?: (model: string) => string | undefined;
  /** ALLOWED_HOSTS and Ollama's local names: the DNS-rebinding guard. Absent: every Host is served. */
  readonly hostAllowed?: HostPolicy;
}

export interface ProxyHandler {
  /** `target` is req.url parsed (main.ts parses it once to dispatch); parsed here when not given. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    target?: RequestTarget,
  ): void;
  /** Exchanges still in flight. */
  readonly active: number;
  /** Resolves when no exchange is in flight, or after `timeoutMs`; returns how many were still running. */
  drain(timeoutMs: number): Promise<number>;
  close(): void;
}

/** Per-exchange state, attached to the request while it is in flight. */
interface Exchange {
  readonly id: string;
  readonly route: Route;
  readonly startNs: bigint;
  readonly startedAtMs: number;
  request: RequestInfo;
  model: string;
  modelLabel: string;
  client: string;
  clientIp: string;
  inFlightLabels: { model: string; endpoint: string } | undefined;
  requestBytes: number;
  responseBytes: number;
  status: number | undefined;
  firstOutputNs: bigint | undefined;
  tap: ResponseTap | undefined;
  strip: boolean;
  ending: Ending | undefined;
  finished: boolean;
  release: ((summary: ExchangeSummary) => void) | undefined;
  /** Set when the client asked for an alias: the response's model is written back to `requested`. */
  alias: { requested: string; served: string } | undefined;
  json: Record<string, unknown> | undefined;
}

// Non-streamed JSON bodies up to this size are parsed whole for their counts; embeddings can be larger.
const MAX_JSON_PARSE_BYTES = 4 * 1024 * 1024;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers["x-request-id"];
  return typeof incoming === "string" && REQUEST_ID.test(incoming)
    ? incoming
    : randomUUID();
}

function headerText(
  req: IncomingMessage,
  name: string | undefined,
  max = 256,
): string {
  if (!name) return "";
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text ? text.trim().slice(0, max) : "";
}

function upstreamErrorReason(
  error: NodeJS.ErrnoException,
  timedOut: boolean,
): string {
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

export function createProxyHandler(
  options: ProxyOptions,
  deps: ProxyDeps,
): ProxyHandler {
  const target = new URL(options.ollamaUrl);
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
    target: options.ollamaUrl,
    agent,
    changeOrigin: true,
    xfwd: false,
    preserveHeaderKeyCase: true,
  });
  const exchanges = new Map<IncomingMessage, Exchange>();
  const timedOut = new WeakSet<IncomingMessage>();
  let drainWaiters: Array<() => void> = [];

  const summarize = (req: IncomingMessage, ex: Exchange): ExchangeSummary => {
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
      deps.models.admit(ex.model);
      modelLabel = deps.models.label(ex.model);
    }
    return {
      requestId: ex.id,
      route: ex.route,
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
      tap,
      requestBytes: ex.requestBytes,
      responseBytes: ex.responseBytes,
      clientIp: ex.clientIp,
      userAgent: headerText(req, "user-agent", 512),
      client: ex.client,
    };
  };

  /** Runs exactly once per exchange, whichever of finish, close or error comes first. */
  const finish = (req: IncomingMessage, ending: Ending) => {
    const ex = exchanges.get(req);
    if (!ex || ex.finished) return;
    ex.finished = true;
    ex.ending ??= ending;
    exchanges.delete(req);
    if (ex.inFlightLabels) deps.metrics.inFlight.dec(ex.inFlightLabels);
    try {
      const summary = summarize(req, ex);
      if (summary.outcome === "ok" && ex.route.changesModels)
        deps.onModelsChanged?.();
      ex.release?.(summary);
      deps.onExchange(summary);
    } catch (error) {
      deps.logger.error(
        { err: error, request_id: ex.id },
        "failed to finalise an exchange",
      );
    }
    if (exchanges.size === 0 && drainWaiters.length > 0) {
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  const failInternally = (
    res: ServerResponse,
    ex: Exchange,
    error: unknown,
  ) => {
    deps.logger.error(
      { err: error, request_id: ex.id },
      "internal proxy error",
    );
    ex.status = 500;
    ex.ending = {
      kind: "proxy_failed",
      status: 500,
      error: "internal proxy error",
    };
    ex.responseBytes += sendError(
      res,
      ex.route.api,
      500,
      "internal proxy error",
    );
  };

  const reject = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    status: number,
    message: string,
    reason: string,
    headers: Record<string, string> = {},
  ) => {
    ex.status = status;
    ex.ending = { kind: "rejected", status, error: message, reason };
    deps.metrics.rejected.inc({ reason });
    ex.responseBytes += sendError(res, ex.route.api, status, message, headers);
  };

  proxy.on("proxyReq", (proxyReq, req) => {
    proxyReq.setNoDelay?.(true);
    if (options.upstreamTimeoutMs > 0) {
      proxyReq.setTimeout(options.upstreamTimeoutMs, () => {
        timedOut.add(req);
        proxyReq.destroy(
          new Error(`no bytes from Ollama for ${options.upstreamTimeoutMs} ms`),
        );
      });
    }
  });

  proxy.on("proxyRes", (proxyRes, req, res) => {
    const ex = exchanges.get(req);
    if (!ex) return;
    ex.status = proxyRes.statusCode;
    const contentType = proxyRes.headers["content-type"];
    const status = proxyRes.statusCode ?? 0;
    if (ex.route.inference || ex.route.readsBody || status >= 400) {
      ex.tap = createResponseTap({
        route: ex.route,
        contentType,
        maxPreviewChars: options.maxCaptureChars,
        maxJsonBytes: ex.route.inference ? MAX_JSON_PARSE_BYTES : 64 * 1024,
        onFirstOutput: () => {
          ex.firstOutputNs ??= process.hrtime.bigint();
        },
      });
    }
    const tap = ex.tap;
    // An upstream that dies mid-body: http-proxy pipes but does not end the client's response.
    const onUpstreamAbort = () => {
      if (res.writableEnded) return;
      ex.ending ??= {
        kind: "upstream_failed",
        status,
        error: "Ollama closed the connection mid-response",
      };
      deps.metrics.upstreamErrors.inc({ reason: "reset" });
      res.destroy();
    };
    proxyRes.on("error", onUpstreamAbort);
    proxyRes.on("close", () => {
      if (!proxyRes.complete) onUpstreamAbort();
    });

    if (ex.strip || ex.alias) {
      // selfHandleResponse: strip the usage frames the proxy asked for and/or write the aliased model back.
      const stripping =
        ex.strip && tap !== undefined && framingOf(contentType) === "sse";
      const rewriter = ex.alias
        ? createModelRewriter(ex.alias.served, ex.alias.requested)
        : undefined;
      const headers = { ...proxyRes.headers };
      if (stripping || rewriter) delete headers["content-length"];
      delete headers["transfer-encoding"];
      res.writeHead(status, proxyRes.statusMessage, headers);
      proxyRes.on("data", (chunk: Buffer) => {
        let out = chunk;
        if (stripping) out = tap.pushAndStrip(chunk);
        else tap?.push(chunk);
        if (rewriter) out = rewriter.push(out);
        if (out.length === 0) return;
        ex.responseBytes += out.length;
        if (!res.write(out)) proxyRes.pause();
      });
      res.on("drain", () => proxyRes.resume());
      proxyRes.on("end", () => {
        let rest = stripping ? (tap.end() ?? Buffer.alloc(0)) : Buffer.alloc(0);
        if (!stripping) tap?.end();
        if (rewriter)
          rest = Buffer.concat([rewriter.push(rest), rewriter.end()]);
        ex.responseBytes += rest.length;
        if (rest.length > 0) res.end(rest);
        else res.end();
      });
      return;
    }
    proxyRes.on("data", (chunk: Buffer) => {
      ex.responseBytes += chunk.length;
      tap?.push(chunk);
    });
    proxyRes.on("end", () => tap?.end());
  });

  const onProxyError = (
    error: NodeJS.ErrnoException,
    req: IncomingMessage,
    res: ServerResponse | Socket,
  ) => {
    const ex = exchanges.get(req);
    if (!ex || !("writeHead" in res)) return;
    const isTimeout = timedOut.has(req);
    const reason = upstreamErrorReason(error, isTimeout);
    if (res.destroyed || (req.socket.destroyed && !res.headersSent)) return; // the client left first
    deps.metrics.upstreamErrors.inc({ reason });
    if (res.headersSent) {
      ex.ending ??= {
        kind: "upstream_failed",
        status: ex.status ?? 502,
        error: `Ollama connection failed: ${error.message}`,
      };
      res.destroy();
      return;
    }
    const status = isTimeout ? 504 : 502;
    const message = isTimeout
      ? `ollama did not answer within ${options.upstreamTimeoutMs} ms`
      : `ollama is unreachable at ${target.host}: ${error.code ?? error.message}`;
    ex.status = status;
    ex.ending = { kind: "upstream_failed", status, error: message };
    ex.responseBytes += sendError(res, ex.route.api, status, message);
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer | undefined,
  ) => {
    ex.inFlightLabels = { model: ex.modelLabel, endpoint: ex.route.endpoint };
    deps.metrics.inFlight.inc(ex.inFlightLabels);
    if (!body) {
      // Bodies we don't read (blob uploads can be gigabytes) stream straight through; count them as they pass.
      req.on("data", (chunk: Buffer) => {
        ex.requestBytes += chunk.length;
      });
    }
    proxy.web(
      req,
      res,
      {
        buffer: body ? Readable.from([body]) : undefined,
        selfHandleResponse: ex.strip || ex.alias !== undefined,
      },
      onProxyError,
    );
  };

  const admitAndForward = async (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer | undefined,
  ) => {
    if (deps.admit) {
      const admission = await deps.admit({
        req,
        route: ex.route,
        request: ex.request,
        model: normalizeModel(ex.request.model ?? ""),
        clientIp: ex.clientIp,
        json: ex.json,
      });
      if (!admission.ok) {
        reject(
          req,
          res,
          ex,
          admission.status,
          admission.message,
          admission.reason,
          admission.headers,
        );
        return;
      }
      if (admission.client) ex.client = admission.client;
      if (ex.finished) {
        // The client left while it waited: finish() ran with nothing to release. This is the one place that
        // gives the grant back; access control does not watch the connection for it.
        admission.release?.(summarize(req, ex));
        return;
      }
      ex.release = admission.release;
      if (admission.headers)
        for (const [name, value] of Object.entries(admission.headers))
          res.setHeader(name, value);
      if (res.destroyed) return; // the client left while waiting for admission
      deps.stripCredentials?.(req.headers);
    }
    forward(req, res, ex, body);
  };

  const onBody = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer,
  ) => {
    ex.requestBytes = body.length;
    const json = parseJsonObject(body);
    ex.request = describeRequest(ex.route, json, options.maxCaptureChars);
    ex.model = normalizeModel(ex.request.model ?? "");
    ex.modelLabel = deps.models.label(ex.model);
    ex.json = json;
    // The body is parsed once; the two rewrites below change the parsed object, serialised once at the end.
    let outgoingJson = json;
    const target =
      json && ex.route.inference && ex.request.model !== undefined
        ? deps.resolveAlias?.(ex.request.model)
        : undefined;
    if (json && target !== undefined && ex.request.model !== undefined) {
      ex.alias = { requested: ex.request.model, served: target };
      outgoingJson = rewriteModelField(json, target);
      ex.model = normalizeModel(target);
      ex.modelLabel = deps.models.label(ex.model);
    }
    const openAiStream =
      ex.route.op === "chat_completions" || ex.route.op === "completions";
    if (
      options.injectStreamUsage &&
      openAiStream &&
      outgoingJson &&
      ex.request.stream &&
      !ex.request.includeUsage
    ) {
      const rewritten = withIncludeUsage(outgoingJson);
      if (rewritten) {
        outgoingJson = rewritten;
        ex.strip = true;
      }
    }
    let outgoing = body;
    if (outgoingJson !== json && outgoingJson) {
      outgoing = Buffer.from(JSON.stringify(outgoingJson), "utf8");
      req.headers["content-length"] = String(outgoing.length);
      delete req.headers["transfer-encoding"];
    }
    admitAndForward(req, res, ex, outgoing).catch((error: unknown) =>
      failInternally(res, ex, error),
    );
  };

  const readBody = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
  ) => {
    // Closing the connection spares reading the rest of a body nobody will use.
    const rejectTooLarge = () =>
      reject(
        req,
        res,
        ex,
        413,
        `request body exceeds ${options.maxBodyBytes} bytes`,
        "body_too_large",
        { Connection: "close" },
      );
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > options.maxBodyBytes) {
      rejectTooLarge();
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > options.maxBodyBytes) {
        tooLarge = true;
        chunks.length = 0;
        rejectTooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge || res.destroyed) return;
      const body =
        chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      try {
        onBody(req, res, ex, body);
      } catch (error) {
        // A parser bug must cost this request a 500, never hang it or the process.
        failInternally(res, ex, error);
      }
    });
  };

  return {
    handle(req, res, target = parseRequestTarget(req.url ?? "/")) {
      // Every decision below is taken on the path Ollama will route; a target with another reading is refused.
      const method = req.method ?? "GET";
      const refusal = refusalOf(req, method, target, deps.hostAllowed);
      const route =
        target.ok && !refusal
          ? matchRoute(method, target.path)
          : otherRoute(apiFamilyOf(req.url ?? "/"));
      if (target.ok) req.url = target.originForm;
      const ex: Exchange = {
        id: requestIdOf(req),
        route,
        startNs: process.hrtime.bigint(),
        startedAtMs: Date.now(),
        request: EMPTY_REQUEST,
        model: "",
        modelLabel: "",
        client: headerText(req, options.clientHeader, 128),
        clientIp: deps.clientIpOf(req),
        inFlightLabels: undefined,
        requestBytes: 0,
        responseBytes: 0,
        status: undefined,
        firstOutputNs: undefined,
        tap: undefined,
        strip: false,
        ending: undefined,
        finished: false,
        release: undefined,
        alias: undefined,
        json: undefined,
      };
      exchanges.set(req, ex);
      req.headers["x-request-id"] = ex.id;
      res.setHeader("X-Request-Id", ex.id);
      res.on("finish", () => finish(req, { kind: "completed" }));
      res.on("close", () => finish(req, { kind: "client_closed" }));
      if (refusal) {
        reject(req, res, ex, refusal.status, refusal.message, refusal.reason);
      } else if (route.readsBody) {
        readBody(req, res, ex);
      } else {
        admitAndForward(req, res, ex, undefined).catch((error: unknown) =>
          failInternally(res, ex, error),
        );
      }
    },
    get active() {
      return exchanges.size;
    },
    drain(timeoutMs) {
      if (exchanges.size === 0) return Promise.resolve(0);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(exchanges.size), timeoutMs);
        drainWaiters.push(() => {
          clearTimeout(timer);
          resolve(0);
        });
      });
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
