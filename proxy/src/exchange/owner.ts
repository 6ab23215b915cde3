// The one owner of each exchange's life, from accept to finish: the request gate, the body (read once, parsed
// once), admission, the rewrites, forwarding through the transport, the response tap, and the finish. The
// finish runs exactly once, whichever of the response's end, the client leaving or a failure comes first, and
// calls the finish hooks (metrics, the record, …): the one place a new consumer of exchanges plugs in.
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  ServerResponse,
} from "node:http";
import { BACKEND_HEADER, type BackendPool } from "../backends/pool.ts";
import { sendError } from "../errors.ts";
import type { HostPolicy } from "../http/allowed-hosts.ts";
import { refusalOf } from "../http/refusal.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { ModelAllowList } from "../metrics/model-label.ts";
import { normalizeModel } from "../models/model-names.ts";
import {
  EMPTY_REQUEST,
  describeRequest,
  parseJsonObject,
} from "../upstream/request.ts";
import {
  apiFamilyOf,
  parseRequestTarget,
  type RequestTarget,
} from "../upstream/request-target.ts";
import { planRequestRewrite } from "../upstream/rewrite.ts";
import { matchRoute, otherRoute } from "../upstream/routes.ts";
import type { Route } from "../upstream/types.ts";
import { ExchangeAdmission, type Admission, type Admit } from "./admission.ts";
import { planDispatch } from "./dispatch.ts";
import { answerFromAll } from "./fan-out.ts";
import { sendPlanned, type ForwardingDeps } from "./forwarding.ts";
import type { Ending, ExchangeSummary } from "./outcome.ts";
import { readBody } from "./request-body.ts";
import {
  headerText,
  requestIdOf,
  summarize,
  type Exchange,
  type TraceIds,
} from "./state.ts";

export interface OwnerOptions {
  readonly maxBodyBytes: number;
  readonly injectStreamUsage: boolean;
  /** Bound on the prompt and response text kept per request. */
  readonly maxCaptureChars: number;
  /** Lower-case header carrying a trusted client name (e.g. x-openwebui-user-name). */
  readonly clientHeader: string | undefined;
  /** Idle time allowed between upstream bytes, named in the 504 the client gets. */
  readonly upstreamTimeoutMs: number;
  /** AFFINITY_HEADER (lower case): the header naming a conversation, for backend affinity (the pool's). */
  readonly affinityHeader?: string;
}

/** Called once per exchange, after the client's response has ended or failed. */
export type FinishHook = (summary: ExchangeSummary) => void;

export interface OwnerDeps {
  /** The Ollama servers, each with its transport: one chosen per exchange. */
  readonly backends: BackendPool;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly models: ModelAllowList;
  readonly clientIpOf: (req: IncomingMessage) => string;
  readonly finishHooks: readonly FinishHook[];
  /** Called after a request that changes the installed models succeeded. */
  readonly onModelsChanged?: () => void;
  readonly admit?: Admit;
  /** Removes the proxy's own credentials from a request that was admitted, before it goes to Ollama. */
  readonly stripCredentials?: (headers: IncomingHttpHeaders) => void;
  /** MODEL_ALIASES: the real model behind a client-facing name. */
  readonly resolveAlias?: (model: string) => string | undefined;
  /** ALLOWED_HOSTS and Ollama's local names: the DNS-rebinding guard. Absent: every Host is served. */
  readonly hostAllowed?: HostPolicy;
  /** Tracing on: starts the exchange's span at accept (its end is a finish hook). */
  readonly tracing?: {
    begin(headers: IncomingHttpHeaders, route: Route): TraceIds | undefined;
  };
}

export interface ExchangeOwner {
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

// Each request carries its exchange. Not a Map keyed by request: a request that a long-lived collection holds
// while in flight is promoted to the old generation at its first scavenge, with all it references (measured in
// docs/performance.md: ~5 KB per request in a bare http-proxy-3, GC per request ×3).
const EXCHANGE = Symbol("exchange");
type Owned = IncomingMessage & { [EXCHANGE]?: Exchange };

export function createExchangeOwner(
  options: OwnerOptions,
  deps: OwnerDeps,
): ExchangeOwner {
  const { backends: pool, metrics } = deps;
  const forwarding: ForwardingDeps = {
    pool,
    metrics,
    logger: deps.logger,
    options,
  };
  const summaryOf = (req: IncomingMessage, ex: Exchange) =>
    summarize(req, ex, deps.models, (backend, model, atMs) =>
      pool.wasLoadedAt(backend, model, atMs),
    );
  let active = 0;
  let drainWaiters: Array<() => void> = [];

  const runHooks = (summary: ExchangeSummary, ex: Exchange) => {
    for (const hook of deps.finishHooks) {
      try {
        hook(summary);
      } catch (error) {
        // One consumer's bug costs its own view of this exchange, never the others'.
        deps.logger.error(
          { err: error, request_id: ex.id },
          "a finish hook failed",
        );
      }
    }
  };

  const finish = (req: IncomingMessage, ending: Ending) => {
    const ex = (req as Owned)[EXCHANGE];
    if (!ex || ex.finished) return;
    ex.finished = true;
    ex.ending ??= ending;
    active -= 1;
    ex.abort?.abort();
    if (ex.inFlightLabels) metrics.inFlight.dec(ex.inFlightLabels);
    if (ex.backend) pool.done(ex.backend);
    try {
      const summary = summaryOf(req, ex);
      if (summary.outcome === "ok" && ex.route.changesModels)
        deps.onModelsChanged?.();
      ex.release?.(summary);
      runHooks(summary, ex);
    } catch (error) {
      deps.logger.error(
        { err: error, request_id: ex.id },
        "failed to finalise an exchange",
      );
    }
    if (active === 0 && drainWaiters.length > 0) {
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
    res: ServerResponse,
    ex: Exchange,
    status: number,
    message: string,
    reason: string,
    headers: Record<string, string> = {},
  ) => {
    ex.status = status;
    ex.ending = { kind: "rejected", status, error: message, reason };
    metrics.rejected.inc({ reason });
    ex.responseBytes += sendError(res, ex.route.api, status, message, headers);
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer | undefined,
  ) => {
    const plan = planDispatch(pool, ex, req.headers, options.affinityHeader);
    delete req.headers[BACKEND_HEADER];
    if (plan.kind === "refuse") {
      reject(res, ex, plan.status, plan.message, plan.reason);
      return;
    }
    if (plan.kind === "forward") {
      sendPlanned(forwarding, req, res, ex, body, plan);
      return;
    }
    // In flight on every backend at once: no one backend to name.
    const { modelLabel: model, route } = ex;
    ex.inFlightLabels = { model, endpoint: route.endpoint, backend: "" };
    metrics.inFlight.inc(ex.inFlightLabels);
    answerFromAll(req, res, ex, pool, body, plan, {
      readTimeoutMs: 10_000,
      idleTimeoutMs: options.upstreamTimeoutMs,
    }).catch((error: unknown) => failInternally(res, ex, error));
  };

  const proceed = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer | undefined,
    admission: Admission,
  ) => {
    if (!admission.ok) {
      const { status, message, reason, headers } = admission;
      reject(res, ex, status, message, reason, headers);
      return;
    }
    if (admission.client) ex.client = admission.client;
    if (ex.finished) {
      // The client left while it waited: the finish ran with nothing to release, so the grant goes back here.
      admission.release?.(summaryOf(req, ex));
      return;
    }
    ex.release = admission.release;
    if (admission.headers)
      for (const [name, value] of Object.entries(admission.headers))
        res.setHeader(name, value);
    if (res.destroyed) return;
    deps.stripCredentials?.(req.headers);
    forward(req, res, ex, body);
  };

  // Synchronous unless the admission has to wait (a limit counted in Redis, the queue): most requests are admitted
  // at once, and a promise and a microtask each would only add work.
  const admitAndForward = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer | undefined,
  ) => {
    if (!deps.admit) {
      forward(req, res, ex, body);
      return;
    }
    const admission = deps.admit(new ExchangeAdmission(req, ex));
    if (admission instanceof Promise)
      admission
        .then((answer) => proceed(req, res, ex, body, answer))
        .catch((error: unknown) => failInternally(res, ex, error));
    else proceed(req, res, ex, body, admission);
  };

  const onBody = (
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    body: Buffer,
  ) => {
    ex.requestBytes = body.length;
    const json = parseJsonObject(body);
    ex.json = json;
    ex.request = describeRequest(ex.route, json, options.maxCaptureChars);
    const plan = planRequestRewrite(ex.route, ex.request, json, body, {
      injectStreamUsage: options.injectStreamUsage,
      resolveAlias: deps.resolveAlias,
    });
    ex.rewrite = plan;
    ex.model = normalizeModel(plan.alias?.served ?? ex.request.model ?? "");
    ex.modelLabel = deps.models.label(ex.model);
    if (plan.rewrittenLength !== undefined) {
      req.headers["content-length"] = String(plan.rewrittenLength);
      delete req.headers["transfer-encoding"];
    }
    admitAndForward(req, res, ex, plan.body);
  };

  const start = (
    req: IncomingMessage,
    res: ServerResponse,
    target: RequestTarget,
  ) => {
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
      path: target.ok && !refusal ? target.path : route.endpoint,
      trace: deps.tracing?.begin(req.headers, route),
      startNs: process.hrtime.bigint(),
      startedAtMs: Date.now(),
      clientIp: deps.clientIpOf(req),
      request: EMPTY_REQUEST,
      model: "",
      modelLabel: "",
      client: headerText(req, options.clientHeader, 128),
      inFlightLabels: undefined,
      requestBytes: 0,
      responseBytes: 0,
      status: undefined,
      firstOutputNs: undefined,
      tap: undefined,
      rewrite: undefined,
      ending: undefined,
      finished: false,
      release: undefined,
      abort: undefined,
      backend: undefined,
      conversation: undefined,
      json: undefined,
    };
    (req as Owned)[EXCHANGE] = ex;
    active += 1;
    req.headers["x-request-id"] = ex.id;
    res.setHeader("X-Request-Id", ex.id);
    res.on("finish", () => finish(req, { kind: "completed" }));
    res.on("close", () => finish(req, { kind: "client_closed" }));
    if (refusal) {
      reject(res, ex, refusal.status, refusal.message, refusal.reason);
    } else if (route.readsBody) {
      readBody(req, options.maxBodyBytes, {
        onTooLarge: () =>
          // Closing the connection spares reading the rest of a body nobody will use.
          reject(
            res,
            ex,
            413,
            `request body exceeds ${options.maxBodyBytes} bytes`,
            "body_too_large",
            { Connection: "close" },
          ),
        isOver: () => res.destroyed,
        onBody: (body) => {
          try {
            onBody(req, res, ex, body);
          } catch (error) {
            // A parser bug must cost this request a 500, never hang it or the process.
            failInternally(res, ex, error);
          }
        },
      });
    } else {
      try {
        admitAndForward(req, res, ex, undefined);
      } catch (error) {
        failInternally(res, ex, error);
      }
    }
  };

  return {
    handle(req, res, target = parseRequestTarget(req.url ?? "/")) {
      start(req, res, target);
    },
    get active() {
      return active;
    },
    drain(timeoutMs) {
      if (active === 0) return Promise.resolve(0);
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(active), timeoutMs);
        drainWaiters.push(() => {
          clearTimeout(timer);
          resolve(0);
        });
      });
    },
    close() {
      pool.close();
    },
  };
}
