// Limits: per-client requests per minute, tokens per day and concurrent requests, and the global concurrency cap
// with its wait queue. Shared through Redis when REDIS_URL is set (LIMITS_ON_REDIS_ERROR decides what a dead
// Redis means), per process otherwise. Owns the Redis connection and the lease-renewal timer.
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import type { Admission, AdmissionContext } from "../exchange/admission.ts";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { AccessConfig } from "./access-config.ts";
import { createSlotQueue, type SlotQueue } from "./concurrency.ts";
import { deny, retryAfter } from "./denials.ts";
import {
  createLocalLimitStore,
  LimitsUnavailableError,
  type ClientLimits,
  type LimitReason,
  type LimitStore,
  type RenewableLease,
} from "./limits.ts";
import { createRedisLimitStore } from "./limits-redis.ts";

export interface LimiterDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** REDIS_URL: share limits with every replica using the same Redis. */
  readonly redisUrl?: string;
}

export interface Limiter {
  /** Whether a request under these limits needs counting at all (otherwise it is admitted synchronously). */
  needsCounting(limits: ClientLimits): boolean;
  /** Takes the request's share of the limits, waiting in the queue when the proxy is at capacity. */
  admit(
    context: AdmissionContext,
    subject: string,
    client: string | undefined,
    limits: ClientLimits,
  ): Promise<Admission>;
  close(): Promise<void>;
}

const FAILURE_LOG_INTERVAL_MS = 30_000;

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

export function createLimiter(
  config: AccessConfig,
  deps: LimiterDeps,
): Limiter {
  const { metrics, logger } = deps;
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

  const admitInference = async (
    context: AdmissionContext,
    subject: string,
    client: string | undefined,
    limits: ClientLimits,
  ): Promise<Admission> => {
    const grant: Grant = {
      subject,
      leaseId: randomUUID(),
      limits,
      degraded: false,
      leaseStore: undefined,
      globalStore: undefined,
    };
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
        waitingGrants.set(grant.leaseId, grant);
        const outcome = await queue.acquire(grant.leaseId, context.signal);
        waitingGrants.delete(grant.leaseId);
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
    if (context.signal.aborted) {
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
    // Called exactly once by the exchange's owner (exchange/owner.ts), also when the client has left.
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

  return {
    needsCounting: (limits) => queue !== undefined || takesLimit(limits),
    admit: admitInference,
    async close() {
      clearInterval(renewTimer);
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
