// The Redis LimitStore: the same limits as the in-process store (limits.ts), shared by every replica that uses
// the same Redis. Each check-and-take is one Lua script, so two replicas can never both take the last unit.
// Time comes from Redis (TIME), so replicas with skewed clocks still share one window. Leases are sorted-set
// members scored by their expiry: a crashed replica stops renewing and its slots come back after the TTL.
// Any Redis failure surfaces as LimitsUnavailableError; the caller chooses open or closed. Single-node Redis
// (the scripts build no cluster hash tags).
import type { Redis } from "ioredis";
import {
  LimitsUnavailableError,
  WINDOW_MS,
  rateRetryAfterSeconds,
  secondsUntilUtcMidnight,
  utcDay,
  type LimitStore,
} from "./limits.ts";

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** KEYS: rate window, leases, today's tokens. ARGV: rpm, tokens/day, concurrent, lease id, lease TTL ms, window ms. */
const ADMIT = `${NOW}
local rpm = tonumber(ARGV[1])
local tpd = tonumber(ARGV[2])
local conc = tonumber(ARGV[3])
local ttl = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
if tpd > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used >= tpd then return {'tokens_exhausted', now} end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then return {'concurrency', now} end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rate_limited', now, oldest[2]}
  end
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {'ok', now}
`;

/** KEYS: global leases. ARGV: limit, lease TTL ms, then lease ids in queue order. Returns how many were taken. */
const ACQUIRE_GLOBAL = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local taken = 0
for i = 3, #ARGV do
  if taken >= free then break end
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
  taken = taken + 1
end
if taken > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return taken
`;

/** KEYS: one lease set per lease. ARGV: lease TTL ms, then one lease id per key. XX: a removed lease stays removed. */
const RENEW = `${NOW}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
`;

export interface RedisLimitStoreOptions {
  /** How long a lease lives without renewal: the time a crashed replica's slots stay taken. */
  readonly leaseTtlMs: number;
  readonly keyPrefix?: string;
  /** Proxy clock, used only to name the UTC day of token counters. */
  readonly now?: () => number;
}

/**
 * The caller's connection with the scripts defined: ioredis runs each by EVALSHA and sends the source when Redis
 * answers NOSCRIPT (a restarted Redis has forgotten it).
 */
type LimitsRedis = Redis & {
  limitsAdmit(
    rateKey: string,
    leaseKey: string,
    tokensKey: string,
    ...args: Array<string | number>
  ): Promise<[string, number, string?]>;
  limitsAcquireGlobal(
    globalKey: string,
    ...args: Array<string | number>
  ): Promise<number>;
  /** One key per lease: the number of keys comes first. */
  limitsRenew(
    numberOfKeys: number,
    ...keysAndArgs: Array<string | number>
  ): Promise<number>;
};

/** Uses `redis` (owned by the caller) for every call; close() leaves the connection alone. */
export function createRedisLimitStore(
  connection: Redis,
  options: RedisLimitStoreOptions,
): LimitStore {
  connection.defineCommand("limitsAdmit", { numberOfKeys: 3, lua: ADMIT });
  connection.defineCommand("limitsAcquireGlobal", {
    numberOfKeys: 1,
    lua: ACQUIRE_GLOBAL,
  });
  connection.defineCommand("limitsRenew", { lua: RENEW });
  const redis = connection as LimitsRedis;
  const prefix = options.keyPrefix ?? "ollama-proxy:limits:";
  const now = options.now ?? Date.now;
  const ttl = options.leaseTtlMs;
  const rateKey = (subject: string) => `${prefix}rate:${subject}`;
  const leaseKey = (subject: string) => `${prefix}leases:${subject}`;
  const tokensKey = (subject: string, day: string) =>
    `${prefix}tokens:${subject}:${day}`;
  const globalKey = `${prefix}global`;
  let releasing: { leaseIds: string[]; done: Promise<void> } | undefined;

  /** Fails at once unless connected: with the offline queue off, nothing waits for a reconnect. */
  const guard = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    if (redis.status !== "ready")
      throw new LimitsUnavailableError(`redis is ${redis.status} (${what})`);
    try {
      return await call();
    } catch (error) {
      throw new LimitsUnavailableError(
        `redis ${what} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  };

  return {
    admit: (subject, limits, leaseId) =>
      guard("admit", async () => {
        const day = utcDay(now());
        const reply = await redis.limitsAdmit(
          rateKey(subject),
          leaseKey(subject),
          tokensKey(subject, day),
          limits.requestsPerMinute,
          limits.tokensPerDay,
          limits.concurrent,
          leaseId,
          ttl,
          WINDOW_MS,
        );
        const [verdict, redisNow] = reply;
        switch (verdict) {
          case "ok":
            return { ok: true } as const;
          case "tokens_exhausted":
            return {
              ok: false,
              reason: "tokens_exhausted",
              retryAfterSeconds: secondsUntilUtcMidnight(redisNow),
            } as const;
          case "concurrency":
            return {
              ok: false,
              reason: "concurrency",
              retryAfterSeconds: 1,
            } as const;
          default:
            return {
              ok: false,
              reason: "rate_limited",
              retryAfterSeconds: rateRetryAfterSeconds(
                Number(reply[2] ?? redisNow),
                redisNow,
              ),
            } as const;
        }
      }),
    acquireGlobal: (leaseIds, limit) =>
      guard("acquire", async () => {
        if (leaseIds.length === 0) return 0;
        return Number(
          await redis.limitsAcquireGlobal(globalKey, limit, ttl, ...leaseIds),
        );
      }),
    releaseLease: (subject, leaseId) =>
      guard("release", async () => {
        await redis.zrem(leaseKey(subject), leaseId);
      }),
    releaseGlobal: (leaseId) => {
      // Requests that end in the same turn give their slots back in one ZREM.
      if (releasing === undefined) {
        const batch: string[] = [];
        releasing = {
          leaseIds: batch,
          done: new Promise<void>((resolve) => setImmediate(resolve)).then(
            () => {
              releasing = undefined;
              return guard("release", async () => {
                await redis.zrem(globalKey, ...batch);
              });
            },
          ),
        };
      }
      releasing.leaseIds.push(leaseId);
      return releasing.done;
    },
    chargeTokens: (subject, tokens) =>
      guard("charge", async () => {
        if (tokens <= 0) return;
        const key = tokensKey(subject, utcDay(now()));
        // One MULTI: the counter never exists without its expiry.
        const results = await redis
          .multi()
          .incrby(key, tokens)
          .expire(key, 2 * 86_400)
          .exec();
        const failed = results?.find(([error]) => error !== null);
        if (!results || failed) throw failed?.[0] ?? new Error("MULTI aborted");
      }),
    renew: (leases) =>
      guard("renew", async () => {
        if (leases.length === 0) return;
        await redis.limitsRenew(
          leases.length,
          ...leases.map((lease) =>
            lease.subject === undefined ? globalKey : leaseKey(lease.subject),
          ),
          ttl,
          ...leases.map((lease) => lease.leaseId),
        );
      }),
    close: () => Promise.resolve(),
  };
}
