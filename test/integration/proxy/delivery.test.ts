// Records reach Loki without loss through the real proxy: Loki down under continuous traffic, the proxy
// SIGKILLed in the middle of the outage and restarted, Redis killed and restarted — every record arrives once.
import { afterEach, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { freePort } from "../../helpers/free-port.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends small requests one after another until stopped; remembers the ids whose response completed. */
function startTraffic(urlOf: () => string, prefix: string) {
  const completed: string[] = [];
  let failures = 0;
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running && n < 5000) {
      const id = `${prefix}-${n++}`;
      try {
        const response = await fetch(`${urlOf()}/api/generate`, {
          method: "POST",
          headers: { "X-Request-Id": id },
          body: JSON.stringify({
            model: "llama3.2",
            prompt: `request ${id}`,
            stream: n % 2 === 0,
          }),
        });
        await response.text();
        if (response.ok) completed.push(id);
        else failures++;
      } catch {
        failures++;
      }
      await sleep(25);
    }
  })();
  return {
    completed,
    failures: () => failures,
    async stop() {
      running = false;
      await loop;
    },
  };
}

function recordIds(loki: FakeLoki): string[] {
  return loki
    .uniqueEntries()
    .filter((entry) => entry.labels.log_type === "request")
    .map(
      (entry) => (JSON.parse(entry.line) as { request_id: string }).request_id,
    );
}

describe("record delivery through the proxy", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of cleanup.reverse()) await close().catch(() => undefined);
    cleanup.length = 0;
  });

  async function setup(extraEnv: Record<string, string> = {}) {
    const emulator: Emulator = await createEmulator({ port: 0 });
    cleanup.push(() => emulator.close());
    const loki = await createFakeLoki();
    cleanup.push(() => loki.close());
    const redis: RedisServer = await startRedisServer();
    cleanup.push(() => redis.close());
    const port = await freePort();
    const env = {
      PROXY_PORT: String(port),
      OLLAMA_URL: emulator.url,
      LOKI_URL: loki.url,
      REDIS_URL: redis.url,
      LOKI_BATCH_WAIT_MS: "200",
      ANALYTICS_CLAIM_IDLE_MS: "2000",
      // After a 30 s outage the backoff may have grown to its ceiling; keep the test's wait short.
      LOKI_RETRY_MAX_MS: "3000",
      ...extraEnv,
    };
    const proxies: ProxyProcess[] = [await startProxy(env)];
    cleanup.push(() => Promise.all(proxies.map((p) => p.stop("SIGKILL"))));
    return {
      emulator,
      loki,
      redis,
      env,
      proxies,
      url: `http://127.0.0.1:${port}`,
    };
  }

  it("loses nothing when Loki is down for 30 s and the proxy is SIGKILLed during the outage", async () => {
    const { loki, env, proxies, url } = await setup();
    const traffic = startTraffic(() => url, "outage");
    await sleep(1000);
    await loki.fail("down");
    await sleep(10_000);
    // Crash: no drain, no flush. Records already in Redis must survive; the traffic pauses only while no
    // proxy listens (the gap between a response and its XADD, at most the 25 ms hand-over to the analytics
    // thread plus one write, is not part of this test).
    await traffic.stop();
    await sleep(300);
    await proxies[0]!.stop("SIGKILL");
    proxies.push(await startProxy(env));
    const after = startTraffic(() => url, "after-restart");
    await sleep(20_000);
    await loki.setMode({ kind: "ok" });
    await after.stop();
    const expected = [...traffic.completed, ...after.completed];
    expect(traffic.completed.length).toBeGreaterThan(50);
    expect(after.completed.length).toBeGreaterThan(50);
    await waitFor(() => expected.every((id) => recordIds(loki).includes(id)), {
      timeoutMs: 20_000,
      message: "records missing after Loki came back",
    });
    const ids = recordIds(loki);
    for (const id of expected)
      expect(ids.filter((seen) => seen === id)).toHaveLength(1);
  }, 90_000);

  it("keeps proxying when Redis dies under traffic, and the records still arrive", async () => {
    const { loki, redis, url, proxies } = await setup();
    const traffic = startTraffic(() => url, "redis-down");
    await sleep(800);
    await redis.kill("SIGKILL");
    await sleep(2000);
    await redis.restart();
    await sleep(1500);
    await traffic.stop();
    expect(traffic.failures()).toBe(0);
    await waitFor(
      () => traffic.completed.every((id) => recordIds(loki).includes(id)),
      { timeoutMs: 20_000 },
    ).catch((error: unknown) => {
      // Failed once in CI (make test-future, 2026-12-05): Redis had acknowledged records its append-only file did
      // not have yet when it was killed (recent-writes.ts). Say which records and what the proxy reported.
      const shipped = new Set(recordIds(loki));
      const missing = traffic.completed.filter((id) => !shipped.has(id));
      const reports = proxies[0]!.lines.filter(
        (line) => typeof line.level === "number" && line.level >= 40,
      );
      throw new Error(
        `records missing after Redis came back: ${missing.length} of ${traffic.completed.length} ` +
          `(${missing.slice(0, 20).join(", ")}); the proxy's warnings: ${JSON.stringify(reports).slice(0, 4000)}`,
        { cause: error },
      );
    });
  }, 60_000);

  it("ships the proxy's own logs to Loki under log_type=app, best effort", async () => {
    const emulator = await createEmulator({ port: 0 });
    cleanup.push(() => emulator.close());
    const loki = await createFakeLoki();
    cleanup.push(() => loki.close());
    const proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      LOKI_URL: loki.url,
      LOKI_ENV: "ci",
    });
    cleanup.push(() => proxy.stop("SIGKILL"));
    const app = await waitFor(
      () =>
        loki.uniqueEntries().find((entry) => entry.labels.log_type === "app"),
      {
        timeoutMs: 10_000,
      },
    );
    expect(app.labels).toMatchObject({
      service_name: "ollama-proxy",
      env: "ci",
    });
    expect(JSON.parse(app.line)).toMatchObject({
      msg: expect.any(String) as string,
    });
  });

  it("ships records of drained requests on SIGTERM without Redis", async () => {
    const emulator = await createEmulator({ port: 0 });
    cleanup.push(() => emulator.close());
    const loki = await createFakeLoki();
    cleanup.push(() => loki.close());
    await loki.fail("down");
    const proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      LOKI_URL: loki.url,
      LOKI_BATCH_WAIT_MS: "5000",
    });
    cleanup.push(() => proxy.stop("SIGKILL"));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const response = await fetch(`${proxy.url}/api/version`);
      ids.push(response.headers.get("x-request-id")!);
    }
    await loki.setMode({ kind: "ok" });
    expect(await proxy.stop("SIGTERM")).toBe(0);
    expect(recordIds(loki).sort()).toEqual(ids.sort());
  }, 30_000);
});
