// Two proxy replicas in front of the same two backends, sharing one Redis: what one replica has in flight on a
// backend steers the other's choice, so that they do not both pile onto the backend each thinks is idle.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
  type ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";

// Streams slow enough to stay in flight while the other replica routes.
const MODEL: ModelSpec = {
  name: "qwen3:0.6b",
  ttftMs: 5,
  loadMs: 5,
  tokensPerSecond: 20,
  replyTokens: 4,
};
const KEY = "ollama-proxy:backend-load:";

describe("several replicas share each backend's load through Redis", () => {
  let redis: RedisServer;
  let client: Redis;
  let a: Emulator;
  let b: Emulator;
  let first: ProxyProcess;
  let second: ProxyProcess;

  const generate = async (
    proxy: ProxyProcess,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${proxy.url}/api/generate`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        model: "qwen3:0.6b",
        prompt: "hi",
        stream: false,
      }),
    });
    await response.text();
    return response.headers.get("x-request-id") ?? "";
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url);
    // The second test kills the server under it.
    client.on("error", () => undefined);
    a = await createEmulator({ models: [MODEL] });
    b = await createEmulator({ models: [MODEL] });
    const env = (name: string) => ({
      OLLAMA_BACKENDS: `a=${a.url},b=${b.url}`,
      REDIS_URL: redis.url,
      ANALYTICS_CONSUMER: name,
    });
    first = await startProxy(env("first"));
    second = await startProxy(env("second"));
  });

  afterAll(async () => {
    await first?.stop("SIGKILL");
    await second?.stop("SIGKILL");
    client?.disconnect();
    await Promise.all([a?.close(), b?.close()]);
    await redis?.close();
  });

  it("routes around a backend the other replica keeps busy", async () => {
    // The second replica has seen the model answer on both backends: equally suited, ties alternate.
    await generate(second, { "X-Ollama-Backend": "a" });
    await generate(second, { "X-Ollama-Backend": "b" });

    // The first replica keeps four long streams on a.
    const streams = Array.from({ length: 4 }, async () => {
      const response = await fetch(`${first.url}/api/generate`, {
        method: "POST",
        headers: { "X-Ollama-Backend": "a" },
        body: JSON.stringify({
          model: "qwen3:0.6b",
          prompt: "a long one",
          options: { num_predict: 2000 },
        }),
      });
      const reader = response.body!.getReader();
      await reader.read();
      return reader;
    });
    const readers = await Promise.all(streams);

    // Wait for the first replica's report, then for the second replica's next exchange: its key, deleted here,
    // comes back only from an exchange that ran after the report (the script is atomic), which read the four.
    // (Comparing the key's TTL before and after raced the polling against the exchange's timer.)
    await waitFor(async () => (await client.hget(`${KEY}first`, "a")) === "4", {
      timeoutMs: 10_000,
      message: "the first replica did not report its streams",
    });
    await client.del(`${KEY}second`);
    await waitFor(async () => (await client.exists(`${KEY}second`)) === 1, {
      timeoutMs: 10_000,
      message: "the second replica did not exchange again",
    });

    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await generate(second));
    for (const id of ids)
      expect(await second.recordFor(id)).toMatchObject({ backend: "b" });

    for (const reader of readers) await reader.cancel();
  });

  it("keeps routing by its own counts when Redis dies", async () => {
    await redis.kill();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await generate(second));
    const served = await Promise.all(ids.map((id) => second.recordFor(id)));
    expect(served.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    await waitFor(
      () =>
        second.lines.some(
          (line) =>
            line.msg ===
            "backend load: redis unavailable, routing by this replica's own counts",
        ),
      { timeoutMs: 10_000, message: "the fallback was not logged" },
    );
  });
});
