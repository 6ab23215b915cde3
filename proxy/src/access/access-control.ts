// Access control and fair use, as one admission hook for the proxy: who may call (API keys), what they may do
// (admin-only model management, allowed models), and how much (per-client limits, global concurrency with a
// wait queue). Shared through Redis when it is configured, per process otherwise. Owns its Redis connection,
// the file watchers and the lease-renewal timer; never logs a key, a hash or a header value.
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { Redis } from "ioredis";
import type { Admission, AdmissionContext } from "../http/proxy.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { ExchangeSummary } from "../tap/exchange.ts";
import type { Op } from "../upstream/types.ts";
import {
  loadAliases,
  loadKeys,
  loadPricing,
  type AccessConfig,
} from "./access-config.ts";
import { createFileWatch } from "./file-watch.ts";
import { isModelKeySpelling, resolveAlias } from "../models/aliases.ts";
import { createSlotQueue, type SlotQueue } from "./concurrency.ts";
import {
  createKeyRing,
  digestOf,
  extractKey,
  stripKeyHeaders,
  type KeyEntry,
  type KeyRing,
} from "./keys.ts";
import {
  createLocalLimitStore,
  LimitsUnavailableError,
  type ClientLimits,
  type LimitReason,
  type LimitStore,
  type RenewableLease,
} from "./limits.ts";
import { createRedisLimitStore } from "./limits-redis.ts";
import { createPricer, type Pricer } from "../models/pricing.ts";

/** The admission context, plus the parsed request body when the proxy has one (for the ambiguous-key check). */
export type AccessContext = AdmissionContext & {
  readonly json?: Record<string, unknown>;
};

export interface AccessControl {
  admit(context: AccessContext): Admission | Promise<Admission>;
  /** Bounded metric label: a configured key name, anything else `_other`. */
  clientLabelOf(client: string): string;
  /** MODEL_ALIASES: the real model behind a client-facing name, or undefined. */
  resolveAlias(model: string): string | undefined;
  /** PRICING_FILE: the estimated cost, or undefined when the model has no price. */
  costOf(
    model: string,
    promptTokens: number,
    completionTokens: number,
  ): number | undefined;
  /**
   * For the proxy's own admin endpoints (/analytics, which serves every prompt): ok for an admin key or the
   * admin token (ANALYTICS_TOKEN), 401/403 otherwise. Never open: with keys off and no token it refuses all.
   */
  authorizeAdmin(headers: IncomingHttpHeaders): Admission;
  /** Removes the key headers (only when keys are on: otherwise they are the client's business with Ollama). */
  stripCredentials(headers: IncomingHttpHeaders): void;
  /** Re-reads the keys, aliases and pricing files; a bad file keeps the previous version and logs why. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface AccessDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** REDIS_URL: share limits with every replica using the same Redis. */
  readonly redisUrl?: string;
  /** Watch the files named in the config and reload on change (default true). */
  readonly watchFiles?: boolean;
  /** ANALYTICS_TOKEN: a bearer token that opens the proxy's admin endpoints, with keys on or off. */
  readonly adminToken?: string;
}

export const OTHER_CLIENT = "_other";
/** The `client` of requests authorised by ANALYTICS_TOKEN. */
export const ADMIN_TOKEN_CLIENT = "analytics-token";

/**
 * Routes that change what Ollama has installed (reference/ollama-api.md §8) or act on the server's ollama.com
 * account (sign it out for everyone, show it): admin keys only.
 */
export const ADMIN_OPS: ReadonlySet<Op> = new Set([
  "pull",
  "push",
  "create",
  "copy",
  "delete",
  "blob",
  "me",
  "signout",
]);

/** Ollama's web search and fetch spend the account's quota: admin keys, and keys with `web: true`. */
export const WEB_OPS: ReadonlySet<Op> = new Set(["web_search", "web_fetch"]);

const WWW_AUTHENTICATE = { "WWW-Authenticate": 'Bearer realm="ollama-proxy"' };
const FAILURE_LOG_INTERVAL_MS = 30_000;

const deny = (
  status: number,
  reason: string,
  message: string,
  headers?: Record<string, string>,
): Admission => ({ ok: false, status, reason, message, headers });

const retryAfter = (seconds: number) => ({
  "Retry-After": String(Math.max(1, Math.ceil(seconds))),
});

const takesLimit = (limits: ClientLimits) =>
  limits.requestsPerMinute > 0 ||
  limits.tokensPerDay > 0 ||
  limits.concurrent > 0;

/** Per-request bookkeeping: which store granted what, so each part goes back where it came from. */
interface Grant {
  readonly subject: string;
  readonly leaseId: string;
  readonly limits: ClientLimits;
  /** Redis failed for this request and the in-process store served it (LIMITS_ON_REDIS_ERROR=open). */
  degraded: boolean;
  leaseStore: LimitStore | undefined;
  globalStore: LimitStore | undefined;
}

function limitMessage(reason: LimitReason, limits: ClientLimits): string {
  switch (reason) {
    case "rate_limited":
      return `rate limit exceeded: at most ${limits.requestsPerMinute} requests per minute`;
    case "tokens_exhausted":
      return `token limit exceeded: at most ${limits.tokensPerDay} tokens per day (UTC)`;
    case "concurrency":
      return `too many concurrent requests: at most ${limits.concurrent} at a time`;
  }
}

/** Aborts when the client's connection closes, so a queued request stops waiting for a slot nobody will use. */
function disconnectSignal(req: IncomingMessage): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const socket = req.socket as IncomingMessage["socket"] | undefined;
  if (!socket) return { signal: controller.signal, dispose: () => {} };
  if (socket.destroyed) controller.abort();
  const onClose = () => controller.abort();
  socket.once("close", onClose);
  return {
    signal: controller.signal,
    dispose: () => socket.removeListener("close", onClose),
  };
}

export function createAccessControl(
  config: AccessConfig,
  deps: AccessDeps,
): AccessControl {
  const { metrics, logger } = deps;
  const keysEnabled = config.keysFile !== undefined;
  const adminTokenDigest =
    deps.adminToken !== undefined ? digestOf(deps.adminToken) : undefined;
  let ring: KeyRing = createKeyRing(config.keys);
  let aliases: ReadonlyMap<string, string> = config.aliases;
  let pricer: Pricer | undefined = config.pricing
    ? createPricer(config.pricing)
    : undefined;

  const local = createLocalLimitStore();
  let redis: Redis | undefined;
  let shared: LimitStore | undefined;
  let everReady = false;
  let firstReady: Promise<void> = Promise.resolve();
  let lastFailureLog = 0;

  const noteRedisFailure = (error: unknown) => {
    const at = Date.now();
    if (at - lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    lastFailureLog = at;
    logger.warn(
      {
        err: error instanceof Error ? error.message : String(error),
        on_redis_error: config.onRedisError,
      },
      config.onRedisError === "open"
        ? "limits: redis unavailable, enforcing limits per process"
        : "limits: redis unavailable, refusing limited requests (503)",
    );
  };

  if (deps.redisUrl) {
    // No offline queue and a command timeout: an admission never waits on a dead or hung Redis.
    const client = new Redis(deps.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: config.redisTimeoutMs,
      connectTimeout: Math.max(1000, config.redisTimeoutMs),
      retryStrategy: (times) => Math.min(times * 100, 2000),
      connectionName: "ollama-proxy-limits",
    });
    redis = client;
    firstReady = new Promise((resolve) => client.once("ready", resolve));
    client.on("ready", () => {
      if (everReady) logger.info("limits: redis connection restored");
      everReady = true;
      lastFailureLog = 0;
    });
    client.on("error", noteRedisFailure);
    shared = createRedisLimitStore(client, { leaseTtlMs: config.leaseTtlMs });
  }

  let startup: Promise<void> | undefined;
  const startupWait = (): Promise<void> => {
    startup ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.redisTimeoutMs);
      timer.unref();
      void firstReady.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return startup;
  };

  /** Runs `op` on Redis, or on the in-process store when Redis fails and the mode is open. */
  const useStore = async <T>(
    grant: { degraded: boolean },
    op: (store: LimitStore) => Promise<T>,
  ): Promise<{ value: T; store: LimitStore }> => {
    if (!shared) return { value: await op(local), store: local };
    // Only at start, and only once: the first connection gets a bounded moment instead of failing the first
    // requests; a Redis that never answers costs that moment once, not on every request.
    if (!everReady) await startupWait();
    try {
      return { value: await op(shared), store: shared };
    } catch (error) {
      if (!(error instanceof LimitsUnavailableError)) throw error;
      noteRedisFailure(error);
      if (config.onRedisError === "closed") throw error;
      grant.degraded = true;
      return { value: await op(local), store: local };
    }
  };

  const active = new Set<Grant>();
  const waitingGrants = new Map<string, Grant>();
  /** Global slots taken by the queue, by lease id, until the waiting request picks them up. */
  const heldGlobal = new Map<string, LimitStore>();
  const logReleaseFailure = (results: PromiseSettledResult<unknown>[]) => {
    for (const result of results)
      if (result.status === "rejected") noteRedisFailure(result.reason);
  };

  let queue: SlotQueue | undefined;
  if (config.maxConcurrent > 0) {
    queue = createSlotQueue({
      maxWaiting: config.queueMax,
      timeoutMs: config.queueTimeoutMs,
      pollMs: config.queuePollMs,
      tryAcquire: async (leaseIds) => {
        const attempt = { degraded: false };
        const { value: taken, store } = await useStore(attempt, (s) =>
          s.acquireGlobal(leaseIds, config.maxConcurrent),
        );
        for (const leaseId of leaseIds.slice(0, taken)) {
          heldGlobal.set(leaseId, store);
          const grant = waitingGrants.get(leaseId);
          if (grant && attempt.degraded) grant.degraded = true;
        }
        return taken;
      },
      giveBack: (leaseId) => {
        const store = heldGlobal.get(leaseId);
        heldGlobal.delete(leaseId);
        if (store)
          void store
            .releaseGlobal(leaseId)
            .then(() => queue?.notify())
            .catch(noteRedisFailure);
      },
    });
  }

  /** Gives back everything a grant holds and charges its tokens; runs once per grant. */
  const settle = (grant: Grant, tokens: number) => {
    active.delete(grant);
    const work: Array<Promise<unknown>> = [];
    const leaseStore = grant.leaseStore;
    const globalStore = grant.globalStore;
    grant.leaseStore = undefined;
    grant.globalStore = undefined;
    if (leaseStore)
      work.push(leaseStore.releaseLease(grant.subject, grant.leaseId));
    if (globalStore)
      work.push(
        globalStore.releaseGlobal(grant.leaseId).finally(() => queue?.notify()),
      );
    if (tokens > 0 && grant.limits.tokensPerDay > 0)
      work.push(
        useStore({ degraded: false }, (store) =>
          store.chargeTokens(grant.subject, tokens),
        ),
      );
    if (work.length > 0) void Promise.allSettled(work).then(logReleaseFailure);
  };

  const renewTimer = setInterval(
    () => {
      if (!shared) return;
      const leases: RenewableLease[] = [];
      for (const grant of active) {
        if (grant.leaseStore === shared)
          leases.push({ subject: grant.subject, leaseId: grant.leaseId });
        if (grant.globalStore === shared)
          leases.push({ subject: undefined, leaseId: grant.leaseId });
      }
      if (leases.length > 0) shared.renew(leases).catch(noteRedisFailure);
    },
    Math.max(50, Math.floor(config.leaseTtlMs / 3)),
  );
  renewTimer.unref();

  const checkModel = (
    key: KeyEntry,
    context: AccessContext,
  ): Admission | undefined => {
    const model = context.model;
    const refuse = (message: string) => deny(403, "forbidden_model", message);
    // Ollama reads a body JSON.parse cannot (trailing bytes after the object) and matches keys case-insensitively
    // (Go's encoding/json): an unknown or ambiguous model could slip past the check, so a restricted key needs a
    // model we can see.
    if (model === "")
      return refuse(
        "this API key is limited to some models and the request names none that the proxy can read",
      );
    if (
      context.json &&
      Object.keys(context.json).some(
        (field) => field !== "model" && isModelKeySpelling(field),
      )
    )
      return refuse('the request spells the "model" field more than one way');
    const target = resolveAlias(aliases, model);
    if (
      ring.allows(key, model) ||
      (target !== undefined && ring.allows(key, target))
    )
      return undefined;
    return refuse(`model "${model}" is not allowed for this API key`);
  };

  const admitInference = async (
    context: AccessContext,
    key: KeyEntry | undefined,
    limits: ClientLimits,
  ): Promise<Admission> => {
    const subject = key ? `key:${key.name}` : `ip:${context.clientIp}`;
    const grant: Grant = {
      subject,
      leaseId: randomUUID(),
      limits,
      degraded: false,
      leaseStore: undefined,
      globalStore: undefined,
    };
    const client = key?.name;
    try {
      if (takesLimit(limits)) {
        const { value: verdict, store } = await useStore(grant, (s) =>
          s.admit(subject, limits, grant.leaseId),
        );
        if (!verdict.ok)
          return deny(
            429,
            verdict.reason,
            limitMessage(verdict.reason, limits),
            retryAfter(verdict.retryAfterSeconds),
          );
        if (limits.concurrent > 0) grant.leaseStore = store;
      }
      if (queue) {
        const disconnect = disconnectSignal(context.req);
        waitingGrants.set(grant.leaseId, grant);
        const outcome = await queue.acquire(grant.leaseId, disconnect.signal);
        waitingGrants.delete(grant.leaseId);
        disconnect.dispose();
        if (outcome.ok) {
          grant.globalStore = heldGlobal.get(grant.leaseId);
          heldGlobal.delete(grant.leaseId);
        }
        metrics.queueWait.observe(outcome.waitedMs / 1000);
        if (!outcome.ok) {
          settle(grant, 0);
          switch (outcome.reason) {
            case "queue_full":
              return deny(
                429,
                "queue_full",
                `the proxy is at capacity (${config.maxConcurrent} requests in flight, ${config.queueMax} waiting): try again later`,
                retryAfter(1),
              );
            case "queue_timeout":
              return deny(
                429,
                "queue_timeout",
                `no capacity within ${config.queueTimeoutMs} ms: try again later`,
                retryAfter(1),
              );
            case "aborted":
              return deny(
                499,
                "client_closed",
                "the client closed the request while it waited",
              );
            case "closed":
              return deny(
                503,
                "shutting_down",
                "the proxy is shutting down",
                retryAfter(1),
              );
            case "error":
              throw outcome.error;
          }
        }
      }
    } catch (error) {
      settle(grant, 0);
      if (error instanceof LimitsUnavailableError)
        return deny(
          503,
          "redis_unavailable",
          "rate limits are unavailable (Redis does not answer): try again later",
          retryAfter(1),
        );
      throw error;
    }
    if (grant.degraded) metrics.rejected.inc({ reason: "redis_unavailable" });
    const socket = context.req.socket as IncomingMessage["socket"] | undefined;
    if (socket?.destroyed) {
      settle(grant, 0);
      return deny(
        499,
        "client_closed",
        "the client closed the request while it waited",
      );
    }
    if (!grant.leaseStore && !grant.globalStore && limits.tokensPerDay === 0)
      return { ok: true, client };

    active.add(grant);
    // Called exactly once by the exchange's owner (http/proxy.ts), also when the client has left.
    let released = false;
    const release = (summary: ExchangeSummary) => {
      if (released) return;
      released = true;
      const usage = summary?.tap?.usage;
      settle(
        grant,
        (usage?.promptTokens ?? 0) + (usage?.completionTokens ?? 0),
      );
    };
    return { ok: true, client, release };
  };

  const reloadKeys = () => {
    if (!config.keysFile) return;
    const loaded = loadKeys(config.keysFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.keysFile, problem: loaded.problem },
        "keys file rejected, keeping the previous keys",
      );
      return;
    }
    ring = createKeyRing(loaded.keys);
    logger.info(
      { file: config.keysFile, keys: loaded.keys.length },
      "API keys loaded",
    );
  };
  const reloadAliases = () => {
    if (!config.aliasesFile) return;
    const loaded = loadAliases(config.aliasesFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.aliasesFile, problem: loaded.problem },
        "aliases file rejected, keeping the previous aliases",
      );
      return;
    }
    aliases = loaded.aliases;
    logger.info(
      { file: config.aliasesFile, aliases: loaded.aliases.size },
      "model aliases loaded",
    );
  };
  const reloadPricing = () => {
    if (!config.pricingFile) return;
    const loaded = loadPricing(config.pricingFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.pricingFile, problem: loaded.problem },
        "pricing file rejected, keeping the previous prices",
      );
      return;
    }
    pricer = createPricer(loaded.table);
    logger.info(
      { file: config.pricingFile, models: loaded.table.entries.length },
      "prices loaded",
    );
  };

  const files = createFileWatch(logger);
  if (deps.watchFiles !== false) {
    files.watch(config.keysFile, reloadKeys);
    files.watch(config.aliasesFile, reloadAliases);
    files.watch(config.pricingFile, reloadPricing);
  }

  /** The key a request presents, or the refusal (401) when keys are on and it presents none that is valid. */
  const identify = (
    headers: IncomingHttpHeaders,
  ): { key: KeyEntry } | { refused: Admission } => {
    const secret = extractKey(headers);
    if (secret === undefined)
      return {
        refused: deny(
          401,
          "unauthorized",
          "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>",
          WWW_AUTHENTICATE,
        ),
      };
    const key = ring.find(secret);
    return key
      ? { key }
      : {
          refused: deny(
            401,
            "unauthorized",
            "invalid API key",
            WWW_AUTHENTICATE,
          ),
        };
  };

  return {
    admit(context) {
      const { req, route } = context;
      // A CORS preflight carries no credentials by design; Ollama answers it and it reaches no model.
      if (req.method === "OPTIONS") return { ok: true };
      let key: KeyEntry | undefined;
      if (keysEnabled && route.op !== "root") {
        const identity = identify(req.headers);
        if ("refused" in identity) return identity.refused;
        key = identity.key;
        if (
          ADMIN_OPS.has(route.op) &&
          !config.adminRoutesOpen &&
          key.role !== "admin"
        )
          return deny(
            403,
            "admin_required",
            "model management (pull, push, create, copy, delete, blobs) and the server's account (me, signout) need an admin API key",
          );
        if (WEB_OPS.has(route.op) && key.role !== "admin" && !key.web)
          return deny(
            403,
            "admin_required",
            "web search and fetch need an admin API key or a key with web: true",
          );
        if (route.inference && key.models !== undefined) {
          const refused = checkModel(key, context);
          if (refused) return refused;
        }
      }
      if (!route.inference) return { ok: true, client: key?.name };
      const limits: ClientLimits = key
        ? { ...config.defaultLimits, ...key.limits }
        : config.defaultLimits;
      // Nothing to count: answer synchronously, no promise on the hot path.
      if (!queue && !takesLimit(limits)) return { ok: true, client: key?.name };
      return admitInference(context, key, limits);
    },
    authorizeAdmin(headers) {
      const presented = extractKey(headers);
      if (
        adminTokenDigest &&
        presented !== undefined &&
        timingSafeEqual(digestOf(presented), adminTokenDigest)
      )
        return { ok: true, client: ADMIN_TOKEN_CLIENT };
      if (!keysEnabled)
        return deny(
          401,
          "unauthorized",
          adminTokenDigest
            ? "missing or wrong token: send Authorization: Bearer <ANALYTICS_TOKEN>"
            : "closed: set ANALYTICS_TOKEN (make up generates one) or turn API keys on",
          WWW_AUTHENTICATE,
        );
      const identity = identify(headers);
      if ("refused" in identity) return identity.refused;
      if (identity.key.role !== "admin")
        return deny(
          403,
          "admin_required",
          "this endpoint needs an admin API key",
        );
      return { ok: true, client: identity.key.name };
    },
    clientLabelOf(client) {
      return client !== "" && ring.has(client) ? client : OTHER_CLIENT;
    },
    resolveAlias(model) {
      return resolveAlias(aliases, model);
    },
    costOf(model, promptTokens, completionTokens) {
      return pricer?.costOf(model, promptTokens, completionTokens);
    },
    stripCredentials(headers) {
      if (keysEnabled) stripKeyHeaders(headers);
    },
    reload() {
      reloadKeys();
      reloadAliases();
      reloadPricing();
      return Promise.resolve();
    },
    async close() {
      clearInterval(renewTimer);
      files.close();
      queue?.close();
      await local.close();
      if (redis) {
        const client = redis;
        // QUIT waits for Redis to answer; a dead Redis must not hold up shutdown.
        await Promise.race([
          client.quit().catch(() => undefined),
          new Promise((resolve) => setTimeout(resolve, 500).unref()),
        ]);
        client.disconnect();
      }
    },
  };
}
