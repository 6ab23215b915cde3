// Busy-ness per backend shared by the proxy replicas that use one Redis, as their limits are: each replica
// publishes its in-flight count per backend every `intervalMs` and reads the others' sum in the same script, so
// that two replicas do not both pile onto the backend each thinks is idle. Off the hot path: routing reads the
// last sums (at most one interval old); a dead Redis only falls back to this replica's own counts.
import { Redis } from "ioredis";
import type { Logger } from "../logger.ts";
import type { BackendState } from "./health.ts";

const PREFIX = "ollama-proxy:backend-load:";
const REPLICAS = `${PREFIX}replicas`;

/**
 * KEYS[1]: the replicas' sorted set (score: last report, Redis time). ARGV: this replica, TTL ms, then backend /
 * count pairs. Stores this replica's counts in `<prefix><replica>` and returns the other live replicas' sums as
 * backend / count pairs. Reads keys it derives (single-node Redis, like the limits' scripts).
 */
const EXCHANGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[1]
local ttl = tonumber(ARGV[2])
local own = '${PREFIX}' .. me
redis.call('DEL', own)
if #ARGV > 2 then redis.call('HSET', own, unpack(ARGV, 3)) end
redis.call('PEXPIRE', own, ttl)
redis.call('ZADD', KEYS[1], now, me)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
local sums = {}
for _, replica in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if replica ~= me then
    local counts = redis.call('HGETALL', '${PREFIX}' .. replica)
    for i = 1, #counts, 2 do
      sums[counts[i]] = (sums[counts[i]] or 0) + tonumber(counts[i + 1])
    end
  end
end
local out = {}
for backend, count in pairs(sums) do
  out[#out + 1] = backend
  out[#out + 1] = tostring(count)
end
return out
`;

export interface SharedLoad {
  /** One exchange now (tests); otherwise every interval. */
  exchange(): Promise<void>;
  close(): Promise<void>;
}

export function shareBackendLoad(
  states: readonly BackendState[],
  options: { redisUrl: string; replica: string; intervalMs: number },
  logger: Logger,
): SharedLoad {
  const redis = new Redis(options.redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: Math.max(250, options.intervalMs),
    retryStrategy: (times) => Math.min(times * 100, 2000),
    connectionName: "ollama-proxy-backend-load",
  });
  const byName = new Map(states.map((s) => [s.spec.name, s]));
  let failing = false;
  redis.on("error", () => undefined);

  const exchange = async () => {
    const pairs = states.flatMap((s) => [s.spec.name, String(s.inFlight)]);
    try {
      const others = (await redis.eval(
        EXCHANGE,
        1,
        REPLICAS,
        options.replica,
        String(options.intervalMs * 3),
        ...pairs,
      )) as string[];
      for (const state of states) state.remoteInFlight = 0;
      for (let i = 0; i + 1 < others.length; i += 2) {
        const state = byName.get(others[i] as string);
        if (state) state.remoteInFlight = Number(others[i + 1]) || 0;
      }
      if (failing) logger.info("backend load: sharing through redis again");
      failing = false;
    } catch (error) {
      // Stale sums would steer traffic by a picture that no longer holds: route by this replica's own counts.
      for (const state of states) state.remoteInFlight = 0;
      if (!failing)
        logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          "backend load: redis unavailable, routing by this replica's own counts",
        );
      failing = true;
    }
  };

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void exchange().finally(() => {
      running = false;
    });
  }, options.intervalMs);
  timer.unref();

  return {
    exchange,
    async close() {
      clearInterval(timer);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
