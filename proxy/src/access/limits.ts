// Per-client limits (requests per minute, tokens per day, concurrent requests) and the global slots in front of
// Ollama, behind one LimitStore interface with two implementations: Redis (limits-redis.ts, shared by every
// replica) and this in-process one (no Redis configured, or LIMITS_ON_REDIS_ERROR=open while Redis is down).
// Semantics, identical in both:
// - requests per minute: a sliding window log over the last 60 s (exact: the N+1th request inside any 60 s is
//   refused); a refused request does not count;
// - tokens per day: a fixed window per UTC day; checked at admission, charged when the response ends, so the
//   request that crosses the limit completes and the next one is refused;
// - concurrent requests: leases; every check-and-take is one atomic step, refusals take nothing.

export interface ClientLimits {
  /** 0 = unlimited. */
  readonly requestsPerMinute: number;
  readonly tokensPerDay: number;
  readonly concurrent: number;
}

export const UNLIMITED: ClientLimits = Object.freeze({
  requestsPerMinute: 0,
  tokensPerDay: 0,
  concurrent: 0,
});

export type LimitReason = "rate_limited" | "tokens_exhausted" | "concurrency";

export type LimitVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: LimitReason;
      readonly retryAfterSeconds: number;
    };

export interface LimitStore {
  /**
   * Checks every limit of `subject` and, only if all pass, counts the request in the minute window and takes a
   * concurrency lease named `leaseId` (when `limits.concurrent` > 0). Atomic.
   */
  admit(
    subject: string,
    limits: ClientLimits,
    leaseId: string,
  ): Promise<LimitVerdict>;
  /**
   * Takes global slots (at most `limit` held in all) for the first of `leaseIds`, in order, as many as are free;
   * resolves with how many it took. One call serves a whole queue head: one round trip, not one per request.
   */
  acquireGlobal(leaseIds: readonly string[], limit: number): Promise<number>;
  releaseLease(subject: string, leaseId: string): Promise<void>;
  releaseGlobal(leaseId: string): Promise<void>;
  /** Adds prompt + completion tokens to today's (UTC) count of `subject`. */
  chargeTokens(subject: string, tokens: number): Promise<void>;
  /** Extends the expiry of leases still in use (a no-op where leases do not expire). */
  renew(leases: readonly RenewableLease[]): Promise<void>;
  close(): Promise<void>;
}

export interface RenewableLease {
  /** Undefined for a global slot. */
  readonly subject: string | undefined;
  readonly leaseId: string;
}

/** Thrown by a store that cannot answer (Redis down or slow): the caller decides open or closed. */
export class LimitsUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LimitsUnavailableError";
  }
}

export const WINDOW_MS = 60_000;
const DAY_MS = 86_400_000;

/** The UTC day of a Unix time in milliseconds, as YYYY-MM-DD. */
export function utcDay(nowMs: number): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

/** Seconds until the next UTC midnight (at least 1): when a tokens-per-day limit resets. */
export function secondsUntilUtcMidnight(nowMs: number): number {
  const next = (Math.floor(nowMs / DAY_MS) + 1) * DAY_MS;
  return Math.max(1, Math.ceil((next - nowMs) / 1000));
}

/** Seconds until the oldest request leaves a full window (at least 1). */
export function rateRetryAfterSeconds(oldestMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((oldestMs + WINDOW_MS - nowMs) / 1000));
}

export interface LocalLimitStore extends LimitStore {
  /** Subjects currently holding state (for tests of the memory bound). */
  readonly subjects: number;
}

/**
 * The in-process store. Its state is bounded by the clients active in the last minute (rate windows), those
 * holding requests (leases) and those that used tokens today; a sweep drops everything else.
 */
export function createLocalLimitStore(
  options: { now?: () => number; sweepIntervalMs?: number } = {},
): LocalLimitStore {
  const now = options.now ?? Date.now;
  const windows = new Map<string, number[]>();
  const leases = new Map<string, Set<string>>();
  const tokens = new Map<string, { day: string; used: number }>();
  const global = new Set<string>();

  const liveWindow = (subject: string, at: number): number[] | undefined => {
    const window = windows.get(subject);
    if (!window) return undefined;
    let expired = 0;
    while (expired < window.length && window[expired]! <= at - WINDOW_MS)
      expired++;
    if (expired > 0) window.splice(0, expired);
    if (window.length === 0) {
      windows.delete(subject);
      return undefined;
    }
    return window;
  };

  const usedToday = (subject: string, day: string): number => {
    const entry = tokens.get(subject);
    if (!entry) return 0;
    if (entry.day !== day) {
      tokens.delete(subject);
      return 0;
    }
    return entry.used;
  };

  const sweep = () => {
    const at = now();
    const day = utcDay(at);
    for (const subject of [...windows.keys()]) liveWindow(subject, at);
    for (const [subject, entry] of tokens)
      if (entry.day !== day) tokens.delete(subject);
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? WINDOW_MS);
  timer.unref();

  return {
    admit(subject, limits, leaseId) {
      const at = now();
      if (limits.tokensPerDay > 0) {
        if (usedToday(subject, utcDay(at)) >= limits.tokensPerDay)
          return Promise.resolve({
            ok: false,
            reason: "tokens_exhausted",
            retryAfterSeconds: secondsUntilUtcMidnight(at),
          });
      }
      const held = leases.get(subject);
      if (limits.concurrent > 0 && (held?.size ?? 0) >= limits.concurrent)
        return Promise.resolve({
          ok: false,
          reason: "concurrency",
          retryAfterSeconds: 1,
        });
      const window = liveWindow(subject, at);
      if (
        limits.requestsPerMinute > 0 &&
        window !== undefined &&
        window.length >= limits.requestsPerMinute
      )
        return Promise.resolve({
          ok: false,
          reason: "rate_limited",
          retryAfterSeconds: rateRetryAfterSeconds(window[0]!, at),
        });
      if (limits.requestsPerMinute > 0) {
        if (window) window.push(at);
        else windows.set(subject, [at]);
      }
      if (limits.concurrent > 0) {
        if (held) held.add(leaseId);
        else leases.set(subject, new Set([leaseId]));
      }
      return Promise.resolve({ ok: true });
    },
    acquireGlobal(leaseIds, limit) {
      let taken = 0;
      for (const leaseId of leaseIds) {
        if (global.size >= limit) break;
        global.add(leaseId);
        taken++;
      }
      return Promise.resolve(taken);
    },
    releaseLease(subject, leaseId) {
      const held = leases.get(subject);
      if (held) {
        held.delete(leaseId);
        if (held.size === 0) leases.delete(subject);
      }
      return Promise.resolve();
    },
    releaseGlobal(leaseId) {
      global.delete(leaseId);
      return Promise.resolve();
    },
    chargeTokens(subject, count) {
      if (count <= 0) return Promise.resolve();
      const day = utcDay(now());
      tokens.set(subject, { day, used: usedToday(subject, day) + count });
      return Promise.resolve();
    },
    renew: () => Promise.resolve(),
    close() {
      clearInterval(timer);
      return Promise.resolve();
    },
    get subjects() {
      return new Set([...windows.keys(), ...leases.keys(), ...tokens.keys()])
        .size;
    },
  };
}
