// Limits shared through a real redis-server: two access-control instances (as two proxy replicas would) enforce
// one limit exactly; a SIGKILLed replica's leases come back after the TTL; a dead or hung Redis never makes an
// admission hang, and LIMITS_ON_REDIS_ERROR decides between serving (open) and 503 (closed).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { childEnv } from "../../helpers/child-env.ts";
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
} from "vitest";
import { loadAccessConfig } from "@proxy/access/access-config.ts";
import {
  createAccessControl,
  type AccessControl,
} from "@proxy/access/access-control.ts";
import type { Admission } from "@proxy/exchange/admission.ts";
import {
  bearer,
  captureLogger,
  chat,
  contextFor,
  counterValue,
  createKeysDir,
  summaryWithTokens,
  testMetrics,
  type KeysDir,
} from "../../fixtures/access/admission.ts";
import { freePort } from "../../helpers/free-port.ts";
import { parseExposition, sumOf } from "../../helpers/metrics.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const CHILD = fileURLToPath(
  new URL("../../fixtures/access/limits-child.ts", import.meta.url),
);

type Granted = Extract<Admission, { ok: true }>;

let redis: RedisServer;
let admin: Redis;
let keys: KeysDir;
const instances: AccessControl[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedisServer({ appendonly: false });
  admin = new Redis(redis.url);
  keys = await createKeysDir([
    { name: "team", limits: { concurrent: 3 } },
    { name: "metered", limits: { tokens_per_day: 100 } },
  ]);
});
afterAll(async () => {
  admin.disconnect();
  await redis.close();
  await keys.close();
});
beforeEach(async () => {
  if (redis.pid === undefined) await redis.restart();
  await waitFor(() => admin.status === "ready");
  await admin.flushall();
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }
  }
  await Promise.all(instances.splice(0).map((instance) => instance.close()));
});

function replica(env: Record<string, string>, redisUrl = redis.url) {
  const telemetry = testMetrics();
  const log = captureLogger();
  const access = createAccessControl(
    loadAccessConfig({ MAX_CONCURRENT: "0", ...env }),
    {
      metrics: telemetry.metrics,
      logger: log.logger,
      redisUrl,
      watchFiles: false,
    },
  );
  instances.push(access);
  return { access, ...telemetry, log };
}

/** Two replicas, both connected (the first admissions would otherwise wait for the connection). */
async function pair(env: Record<string, string>) {
  const a = replica(env);
  const b = replica(env);
  // Both connections up (CLIENT LIST shows their names): no admission below waits for a first connect.
  await waitFor(
    async () =>
      String(await admin.client("LIST"))
        .split("\n")
        .filter((line) => line.includes("ollama-proxy-limits")).length >= 2,
  );
  return [a, b] as const;
}

const ok = (admissions: Admission[]) =>
  admissions.filter((admission): admission is Granted => admission.ok);

describe("limits shared through Redis", () => {
  it("admits exactly 10 of 30 concurrent requests at 10 per minute across two replicas", async () => {
    const [a, b] = await pair({ LIMIT_REQUESTS_PER_MINUTE: "10" });
    const admissions = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        Promise.resolve(
          (i % 2 === 0 ? a : b).access.admit(chat("llama3.2", {}, "10.1.1.1")),
        ),
      ),
    );
    expect(ok(admissions)).toHaveLength(10);
    for (const refused of admissions.filter((admission) => !admission.ok))
      expect(refused).toMatchObject({ status: 429, reason: "rate_limited" });
    // Another client has its own window, on either replica.
    expect((await b.access.admit(chat("llama3.2", {}, "10.1.1.2"))).ok).toBe(
      true,
    );
    expect(await counterValue(a.registry, "ollama_proxy_rejected_total")).toBe(
      0,
    );
  });

  it("holds a key to its concurrent limit across replicas, and frees the slot on release", async () => {
    const [a, b] = await pair({ API_KEYS_FILE: keys.file });
    const team = bearer(keys.secrets.team!);
    const admissions = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        Promise.resolve(
          (i % 2 === 0 ? a : b).access.admit(chat("llama3.2", team)),
        ),
      ),
    );
    const granted = ok(admissions);
    expect(granted).toHaveLength(3);
    expect(admissions.find((admission) => !admission.ok)).toMatchObject({
      status: 429,
      reason: "concurrency",
    });
    granted[0]!.release!(summaryWithTokens(1, 1));
    await waitFor(async () => {
      const next = await b.access.admit(chat("llama3.2", team));
      return next.ok;
    });
    expect((await a.access.admit(chat("llama3.2", team))).ok).toBe(false);
  });

  it("charges tokens at release on one replica and refuses on the other", async () => {
    const [a, b] = await pair({ API_KEYS_FILE: keys.file });
    const metered = bearer(keys.secrets.metered!);
    const first = await a.access.admit(chat("llama3.2", metered));
    expect(first.ok).toBe(true);
    expect((await b.access.admit(chat("llama3.2", metered))).ok).toBe(true);
    (first as Granted).release!(summaryWithTokens(70, 50));
    const refused = await waitFor(async () => {
      const next = await b.access.admit(chat("llama3.2", metered));
      return !next.ok ? next : undefined;
    });
    expect(refused).toMatchObject({ status: 429, reason: "tokens_exhausted" });
    const used = await admin.keys("ollama-proxy:limits:tokens:key:metered:*");
    expect(used).toHaveLength(1);
    expect(await admin.get(used[0]!)).toBe("120");
  });

  it("admits exactly MAX_CONCURRENT of a burst spread over two replicas, then the queue in order", async () => {
    const [a, b] = await pair({
      MAX_CONCURRENT: "5",
      QUEUE_MAX: "100",
      QUEUE_TIMEOUT_MS: "5000",
    });
    const results: Admission[] = [];
    const burst = Array.from({ length: 16 }, (_, i) =>
      Promise.resolve((i % 2 === 0 ? a : b).access.admit(chat("m"))).then(
        (admission) => {
          results.push(admission);
          return admission;
        },
      ),
    );
    await waitFor(() => results.length === 5);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Each replica asks for its queue head's slots in one script call; together they never take more than 5.
    expect(ok(results)).toHaveLength(5);
    expect(await admin.zcard("ollama-proxy:limits:global")).toBe(5);
    const released = new Set<Admission>();
    for (let i = 1; i <= 11; i++) {
      const grant = ok(results).find((held) => !released.has(held))!;
      released.add(grant);
      grant.release!(summaryWithTokens(0, 0));
      await waitFor(() => results.length === 5 + i);
    }
    expect(ok(await Promise.all(burst))).toHaveLength(16);
  });

  it("gives back the global slots of requests that end in the same turn with one ZREM", async () => {
    const [a] = await pair({ MAX_CONCURRENT: "5" });
    const held = ok(
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          Promise.resolve(a.access.admit(chat("m", {}, `10.4.4.${i}`))),
        ),
      ),
    );
    expect(held).toHaveLength(5);
    const zremCalls = async () =>
      Number(
        /cmdstat_zrem:calls=(\d+)/.exec(
          String(await admin.info("commandstats")),
        )?.[1] ?? 0,
      );
    const before = await zremCalls();
    for (const grant of held) grant.release!(summaryWithTokens(0, 0));
    await waitFor(
      async () => (await admin.zcard("ollama-proxy:limits:global")) === 0,
    );
    expect((await zremCalls()) - before).toBe(1);
  });

  it("runs its scripts again after Redis forgot them (SCRIPT FLUSH, as after a restart)", async () => {
    const [a] = await pair({
      MAX_CONCURRENT: "1",
      QUEUE_MAX: "0",
      LIMIT_REQUESTS_PER_MINUTE: "5",
      LIMITS_LEASE_TTL_MS: "1000",
    });
    const first = await a.access.admit(chat("m", {}, "10.3.3.1"));
    expect(first.ok).toBe(true);
    await admin.script("FLUSH");
    // Renewals keep the slot past its TTL only if the renew script still runs.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Had the admit or acquire script failed, "open" would serve this from the per-process store instead.
    expect(await a.access.admit(chat("m", {}, "10.3.3.2"))).toMatchObject({
      ok: false,
      reason: "queue_full",
    });
    (first as Granted).release!(summaryWithTokens(0, 0));
    await admin.script("FLUSH");
    const next = await waitFor(async () => {
      const admission = await a.access.admit(chat("m", {}, "10.3.3.2"));
      return admission.ok ? admission : undefined;
    });
    next.release!(summaryWithTokens(0, 0));
    expect(
      await counterValue(a.registry, "ollama_proxy_rejected_total", {
        reason: "redis_unavailable",
      }),
    ).toBe(0);
  });

  it("shares the global limit: a request queued on one replica gets the slot the other frees", async () => {
    const [a, b] = await pair({
      MAX_CONCURRENT: "2",
      QUEUE_TIMEOUT_MS: "5000",
    });
    const held = ok(
      await Promise.all([a.access.admit(chat("m")), a.access.admit(chat("m"))]),
    );
    expect(held).toHaveLength(2);
    let admitted = false;
    const queued = Promise.resolve(b.access.admit(chat("m"))).then(
      (admission) => {
        admitted = admission.ok;
        return admission;
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(admitted).toBe(false);
    held[0]!.release!(summaryWithTokens(0, 0));
    const admission = await queued;
    expect(admission.ok).toBe(true);
    const sum = sumOf(
      parseExposition(await b.registry.metrics()),
      "ollama_proxy_queue_wait_seconds_sum",
    );
    // It waited at least as long as the slot was held, and was not left to its 5 s timeout.
    expect(sum).toBeGreaterThan(0.25);
    expect(sum).toBeLessThan(5);
  });

  it("gives a SIGKILLed replica's slots back after the lease TTL, not before", async () => {
    const env = {
      LIMIT_CONCURRENT: "2",
      MAX_CONCURRENT: "3",
      LIMITS_LEASE_TTL_MS: "1000",
      QUEUE_TIMEOUT_MS: "10000",
    };
    const child = spawn(process.execPath, [CHILD], {
      env: childEnv({
        REDIS_URL: redis.url,
        HOLD: "3",
        CLIENT_IP: "10.9.9.9",
        ...env,
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let output = "";
    child.stdout.on("data", (data: Buffer) => (output += data.toString()));
    child.stderr.on("data", (data: Buffer) => (output += data.toString()));
    await waitFor(() => output.includes('"held"'), {
      timeoutMs: 10_000,
      message: `child: ${output}`,
    });
    // Two of three got a per-client lease; all three tried the global slots, two hold one.
    expect(output).toContain('{"held":2}');

    const survivor = replica(env);
    // While the child lives it renews: its leases outlast the TTL.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(
      await survivor.access.admit(chat("m", {}, "10.9.9.9")),
    ).toMatchObject({ ok: false, reason: "concurrency" });

    const killedAt = Date.now();
    child.kill("SIGKILL");
    await once(child, "exit");
    expect(
      await survivor.access.admit(chat("m", {}, "10.9.9.9")),
    ).toMatchObject({ ok: false, reason: "concurrency" });
    const back = await waitFor(
      async () => {
        const next = await survivor.access.admit(chat("m", {}, "10.9.9.9"));
        return next.ok ? next : undefined;
      },
      // Leases that outlived their owner would never come back: the wait below is ten TTLs.
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(Date.now() - killedAt).toBeGreaterThan(100);
    back.release!(summaryWithTokens(0, 0));
    // The global slots came back too: three requests fit again.
    const again = await Promise.all([
      survivor.access.admit(chat("m", {}, "10.0.0.1")),
      survivor.access.admit(chat("m", {}, "10.0.0.2")),
      survivor.access.admit(chat("m", {}, "10.0.0.3")),
    ]);
    expect(ok(again)).toHaveLength(3);
  });
});

describe("when Redis fails", () => {
  it("open: keeps serving with per-process limits, counts redis_unavailable, and shares again when Redis is back", async () => {
    const { access, registry } = replica({
      LIMIT_REQUESTS_PER_MINUTE: "3",
      LIMITS_ON_REDIS_ERROR: "open",
      LIMITS_REDIS_TIMEOUT_MS: "2000",
    });
    expect((await access.admit(chat("m"))).ok).toBe(true);
    await redis.kill("SIGKILL");
    const started = Date.now();
    const admissions = [];
    for (let i = 0; i < 5; i++) admissions.push(await access.admit(chat("m")));
    // A refused connection is known at once: had each admission waited out the Redis timeout, this is 10 s.
    expect(Date.now() - started).toBeLessThan(5000);
    // The per-process fallback still holds the client to 3 per minute.
    expect(ok(admissions)).toHaveLength(3);
    expect(admissions[4]).toMatchObject({ ok: false, reason: "rate_limited" });
    expect(
      await counterValue(registry, "ollama_proxy_rejected_total", {
        reason: "redis_unavailable",
      }),
    ).toBe(3);

    await redis.restart();
    await admin.flushall().catch(() => undefined);
    await waitFor(
      async () =>
        (await access.admit(chat("m", {}, "10.2.2.2"))).ok &&
        (await admin.keys("*rate*")).length > 0,
      {
        timeoutMs: 10_000,
      },
    );
  });

  it("closed: answers 503 at once, and serves again when Redis is back", async () => {
    const { access } = replica({
      LIMIT_REQUESTS_PER_MINUTE: "100",
      LIMITS_ON_REDIS_ERROR: "closed",
      LIMITS_REDIS_TIMEOUT_MS: "10000",
    });
    expect((await access.admit(chat("m"))).ok).toBe(true);
    await redis.kill("SIGKILL");
    const started = Date.now();
    const refused = await access.admit(chat("m"));
    // At once: not after the 10 s Redis timeout.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(refused).toMatchObject({
      ok: false,
      status: 503,
      reason: "redis_unavailable",
      headers: { "Retry-After": "1" },
    });
    // Requests that take no limit do not need Redis.
    expect(await access.admit(contextFor("GET", "/api/tags"))).toMatchObject({
      ok: true,
    });
    await redis.restart();
    await waitFor(async () => (await access.admit(chat("m"))).ok, {
      timeoutMs: 10_000,
    });
  });

  it("closed: a queued request fails with 503 instead of waiting out its timeout", async () => {
    const { access } = replica({
      MAX_CONCURRENT: "1",
      QUEUE_TIMEOUT_MS: "20000",
      LIMITS_ON_REDIS_ERROR: "closed",
    });
    const first = await access.admit(chat("m"));
    expect(first.ok).toBe(true);
    const queued = access.admit(chat("m"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await redis.kill("SIGKILL");
    const started = Date.now();
    expect(await queued).toMatchObject({
      ok: false,
      status: 503,
      reason: "redis_unavailable",
    });
    // Not after its 20 s queue timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("a hung Redis (SIGSTOP) delays an admission by at most LIMITS_REDIS_TIMEOUT_MS", async () => {
    const { access, registry } = replica({
      LIMIT_REQUESTS_PER_MINUTE: "100",
      LIMITS_REDIS_TIMEOUT_MS: "200",
      LIMITS_ON_REDIS_ERROR: "open",
    });
    expect((await access.admit(chat("m"))).ok).toBe(true);
    process.kill(redis.pid!, "SIGSTOP");
    try {
      const started = Date.now();
      const admission = await access.admit(chat("m"));
      const elapsed = Date.now() - started;
      expect(admission.ok).toBe(true);
      // Bounded by the setting (a hung Redis would otherwise hold the request until SIGCONT).
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(5000);
      expect(
        await counterValue(registry, "ollama_proxy_rejected_total", {
          reason: "redis_unavailable",
        }),
      ).toBe(1);
    } finally {
      process.kill(redis.pid!, "SIGCONT");
    }
  });

  it("a Redis that never answered: bounded wait at start, then open serves and closed refuses", async () => {
    const nobody = `redis://127.0.0.1:${await freePort()}`;
    const open = replica(
      { LIMIT_REQUESTS_PER_MINUTE: "5", LIMITS_REDIS_TIMEOUT_MS: "1000" },
      nobody,
    );
    const closed = replica(
      {
        LIMIT_REQUESTS_PER_MINUTE: "5",
        LIMITS_REDIS_TIMEOUT_MS: "1000",
        LIMITS_ON_REDIS_ERROR: "closed",
      },
      nobody,
    );
    const started = Date.now();
    expect((await open.access.admit(chat("m"))).ok).toBe(true);
    expect(await closed.access.admit(chat("m"))).toMatchObject({
      ok: false,
      status: 503,
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    // The start-up wait is paid once, not on every request: paid again, these three would take 3 s.
    const again = Date.now();
    for (let i = 0; i < 3; i++) await open.access.admit(chat("m"));
    expect(Date.now() - again).toBeLessThan(1500);
    const warning = open.log
      .lines()
      .find((line) => String(line.msg).startsWith("limits: redis unavailable"));
    expect(warning).toBeDefined();
  });
});
