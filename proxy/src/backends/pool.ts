// The Ollama servers behind the proxy: for each, a transport (its own keep-alive pool), a poller and its routing
// state. The pool answers the owner's two questions — where does this request go, and what happened there — and
// keeps the per-backend gauges (healthy, up, loaded models) and counters (ejections, retries) true.
import type { IncomingHttpHeaders } from "node:http";
import { createTransport, type Transport } from "../http/transport.ts";
import type { Logger } from "../logger.ts";
import {
  UPSTREAM_ERROR_REASONS,
  type Metrics,
} from "../metrics/definitions.ts";
import type { ModelAllowList } from "../metrics/model-label.ts";
import {
  isAvailable,
  newBackendState,
  reportFailure,
  reportSuccess,
  type BackendState,
  type FailureKind,
} from "./health.ts";
import { createPoller, type Poller } from "./poller.ts";
import { createAffinity } from "./affinity.ts";
import { rankBackends } from "./routing.ts";
import { shareBackendLoad } from "./shared-load.ts";
import type { BackendSpec } from "./settings.ts";

/** Names the backend a request must go to (model management on one server); absent: the pool chooses. */
export const BACKEND_HEADER = "x-ollama-backend";

const FAILURE_KINDS: readonly FailureKind[] = [
  "connect",
  "reset",
  "timeout",
  "status_5xx",
];

export interface Backend {
  readonly name: string;
  readonly url: string;
  /** host:port, as error messages name it. */
  readonly host: string;
  /** Host name and port apart (span attributes server.address, server.port). */
  readonly address: string;
  readonly port: number;
  readonly transport: Transport;
  readonly state: BackendState;
}

/** Why no backend can take a request: the client's answer and the rejection reason. */
export interface Refusal {
  readonly ok: false;
  readonly status: number;
  readonly reason: string;
  readonly message: string;
}

export type Choice =
  { readonly ok: true; readonly backends: readonly Backend[] } | Refusal;

export interface BackendPool {
  readonly backends: readonly Backend[];
  /** More than one backend: routing, merged lists and fan-out apply. */
  readonly several: boolean;
  /** Conversation affinity applies (BACKEND_AFFINITY and several backends): requests carry a conversation key. */
  readonly affinity: boolean;
  /**
   * The backends to try for a request, best first (`model` normalised; "" when it names none). With a
   * conversation key, the backend of its last turn comes first while it holds the model loaded.
   */
  choose(
    model: string,
    exclude?: ReadonlySet<Backend>,
    conversation?: string,
  ): Choice;
  /** The backend a request names in X-Ollama-Backend: undefined when it names none, an error when unknown. */
  namedIn(headers: IncomingHttpHeaders): Backend | Refusal | undefined;
  /** Backends taking traffic now. */
  healthy(): Backend[];
  /** Whether the backend had `model` loaded at `atMs` (its /api/ps polls): no model load in that request. */
  wasLoadedAt(backend: string, model: string, atMs: number): boolean;
  /** A request starts or ends on the backend (its busy-ness for routing). */
  sent(backend: Backend): void;
  done(backend: Backend): void;
  /** What a request taught about the backend. */
  failed(backend: Backend, kind: FailureKind): void;
  succeeded(
    backend: Backend,
    loadedModel?: string,
    conversation?: string,
  ): void;
  pollNow(): Promise<void>;
  refreshModels(): void;
  close(): void;
}

export interface PoolOptions {
  readonly backends: readonly BackendSpec[];
  readonly idleTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly pollTimeoutMs: number;
  /** BACKEND_AFFINITY=conversation: a conversation's turns stay on one backend while it holds the model. */
  readonly affinity?: boolean;
  /** With several backends: share each backend's in-flight count with the other replicas through this Redis. */
  readonly shareLoad?: {
    readonly redisUrl: string;
    readonly replica: string;
    readonly intervalMs: number;
  };
}

export function createBackendPool(
  options: PoolOptions,
  deps: { metrics: Metrics; models: ModelAllowList; logger: Logger },
): BackendPool {
  const { metrics, logger } = deps;
  const backends: Backend[] = options.backends.map((spec) => {
    const url = new URL(spec.url);
    return {
      name: spec.name,
      url: spec.url,
      host: url.host,
      address: url.hostname,
      port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
      transport: createTransport({
        upstreamUrl: spec.url,
        idleTimeoutMs: options.idleTimeoutMs,
      }),
      state: newBackendState(spec),
    };
  });
  const byState = new Map(backends.map((b) => [b.state, b]));
  const byName = new Map(backends.map((b) => [b.name.toLowerCase(), b]));
  const states = backends.map((b) => b.state);
  const rejoinTimers = new Set<NodeJS.Timeout>();
  let turn = 0;

  const showHealth = () => {
    const now = Date.now();
    for (const b of backends)
      metrics.backendHealthy.set(
        { backend: b.name },
        isAvailable(b.state, now) ? 1 : 0,
      );
  };
  const mergeModels = () =>
    deps.models.replace(backends.flatMap((b) => b.state.modelNames));

  for (const b of backends) {
    for (const reason of UPSTREAM_ERROR_REASONS)
      metrics.upstreamErrors.inc({ reason, backend: b.name }, 0);
    for (const reason of FAILURE_KINDS) {
      metrics.backendEjections.inc({ backend: b.name, reason }, 0);
      metrics.backendRetries.inc({ backend: b.name, reason }, 0);
    }
  }
  showHealth();
  const pollers: Poller[] = backends.map((b) =>
    createPoller(
      b.state,
      { intervalMs: options.pollIntervalMs, timeoutMs: options.pollTimeoutMs },
      { metrics, logger, onModels: mergeModels, onHealth: showHealth },
    ),
  );

  const shared =
    options.shareLoad && backends.length > 1
      ? shareBackendLoad(states, options.shareLoad, logger)
      : undefined;

  // A turn's prompt stays cached as long as its model stays loaded: minutes, by Ollama's default keep_alive.
  const affinity =
    options.affinity && backends.length > 1
      ? createAffinity(10_000, 30 * 60_000)
      : undefined;

  const choose = (
    model: string,
    exclude?: ReadonlySet<Backend>,
    conversation?: string,
  ): Choice => {
    turn = (turn + 1) % 1_000_000;
    const nowMs = Date.now();
    const last = conversation && affinity?.backendFor(conversation, nowMs);
    const ranking = rankBackends(states, {
      model: model.toLowerCase(),
      nowMs,
      turn,
      exclude: exclude && new Set([...exclude].map((b) => b.state)),
      preferred: last ? byName.get(last.toLowerCase())?.state : undefined,
    });
    if (!ranking.ok) return ranking;
    return {
      ok: true,
      backends: ranking.candidates.map((s) => byState.get(s) as Backend),
    };
  };

  return {
    backends,
    several: backends.length > 1,
    affinity: affinity !== undefined,
    choose,
    namedIn(headers) {
      const raw = headers[BACKEND_HEADER];
      const name = (Array.isArray(raw) ? raw[0] : raw)?.trim();
      if (!name) return undefined;
      const backend = byName.get(name.toLowerCase());
      if (backend) return backend;
      return {
        ok: false,
        status: 400,
        reason: "unknown_backend",
        message: `unknown backend ${JSON.stringify(name.slice(0, 64))} in X-Ollama-Backend (configured: ${backends.map((b) => b.name).join(", ")})`,
      };
    },
    healthy() {
      const now = Date.now();
      return backends.filter((b) => isAvailable(b.state, now));
    },
    wasLoadedAt(backend, model, atMs) {
      const since = byName
        .get(backend.toLowerCase())
        ?.state.loadedSince.get(model.toLowerCase());
      return since !== undefined && since <= atMs;
    },
    sent(backend) {
      backend.state.inFlight += 1;
    },
    done(backend) {
      backend.state.inFlight = Math.max(0, backend.state.inFlight - 1);
    },
    failed(backend, kind) {
      const backoffMs = reportFailure(backend.state, kind, Date.now());
      if (backoffMs === undefined) return;
      metrics.backendEjections.inc({ backend: backend.name, reason: kind });
      logger.warn(
        { backend: backend.name, reason: kind, backoff_ms: backoffMs },
        "backend taken out of the rotation",
      );
      showHealth();
      const timer = setTimeout(() => {
        rejoinTimers.delete(timer);
        showHealth();
      }, backoffMs);
      timer.unref();
      rejoinTimers.add(timer);
    },
    succeeded(backend, loadedModel, conversation) {
      reportSuccess(backend.state);
      if (loadedModel) backend.state.revealed.add(loadedModel.toLowerCase());
      if (loadedModel && conversation)
        affinity?.remember(conversation, backend.name, Date.now());
    },
    async pollNow() {
      await Promise.all(pollers.map((p) => p.pollNow()));
    },
    refreshModels() {
      for (const p of pollers) p.refreshModels();
    },
    close() {
      for (const p of pollers) p.close();
      for (const timer of rejoinTimers) clearTimeout(timer);
      for (const b of backends) b.transport.close();
      void shared?.close();
    },
  };
}
