// End to end through the real proxy process with the official clients: keys allow and deny per role and model
// on native and /v1 routes, aliases round-trip through the openai SDK, cost = tokens × price, limits exact across
// two proxy processes on one redis-server, a SIGKILLed proxy's slots come back after the lease, Redis failure
// open/closed, and key reloads without a restart.

import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createKeysDir,
  type KeysDir,
} from "../../fixtures/access/admission.ts";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { runKeysCommand } from "../../../tools/keys/keys-command.ts";

/** The status a client library reports for a failed call (ollama-js: status_code, openai: status). */
async function statusOf(call: Promise<unknown>): Promise<number | undefined> {
  try {
    await call;
  } catch (error) {
    const { status, status_code } = error as {
      status?: number;
      status_code?: number;
    };
    return status ?? status_code;
  }
  return 200;
}

async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

const messages = [
  { role: "user" as const, content: "Tell me about lighthouses" },
];
/** A non-streaming chat request, as both SDKs type it. */
const ask = (model: string) => ({ model, messages });
/** The raw body for fetch. */
const chatBody = (model: string, stream = false) => ({
  model,
  messages,
  stream,
});

describe("access control through the proxy", () => {
  let emulator: Emulator;
  let keys: KeysDir;
  const proxies: ProxyProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      LOG_LEVEL: "info",
      ...env,
    });
    proxies.push(proxy);
    return proxy;
  };

  beforeAll(async () => {
    emulator = await createEmulator({
      port: 0,
      models: [
        { name: "llama3.2:latest", replyTokens: 12 },
        { name: "qwen3:0.6b", replyTokens: 12 },
        { name: "slow:latest", tokensPerSecond: 5, replyTokens: 200 },
        { name: "all-minilm:latest", kind: "embedding" },
      ],
    });
    keys = await createKeysDir([
      { name: "web", models: ["llama3.2*", "slow", "gpt-4o"] },
      { name: "ops", role: "admin" },
    ]);
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.stop("SIGKILL")));
  });
  afterAll(async () => {
    await emulator.close();
    await keys.close();
  });

  const authed = (proxy: ProxyProcess, name: string) => ({
    ollama: new Ollama({
      host: proxy.url,
      headers: { Authorization: `Bearer ${keys.secrets[name]!}` },
    }),
    openai: new OpenAI({
      baseURL: `${proxy.url}/v1`,
      apiKey: keys.secrets[name]!,
      maxRetries: 0,
    }),
  });

  describe("keys", () => {
    let proxy: ProxyProcess;
    beforeAll(async () => {
      // Not through start(): the outer afterEach stops those after every test.
      proxy = await startProxy({
        OLLAMA_URL: emulator.url,
        API_KEYS_FILE: keys.file,
        METRICS_CLIENT_LABEL: "true",
      });
    });
    afterAll(() => proxy.stop("SIGKILL"));

    it("refuses a missing or wrong key with 401 in each route's error shape", async () => {
      const anonymous = new Ollama({ host: proxy.url });
      expect(await statusOf(anonymous.chat(ask("llama3.2")))).toBe(401);
      const wrong = new OpenAI({
        baseURL: `${proxy.url}/v1`,
        apiKey: "ollama",
        maxRetries: 0,
      });
      const error = await wrong.chat.completions
        .create(ask("llama3.2"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(
        (error as InstanceType<typeof OpenAI.AuthenticationError>).error,
      ).toMatchObject({
        type: "authentication_error",
      });

      const native = await post(`${proxy.url}/api/chat`, chatBody("llama3.2"));
      expect(native.status).toBe(401);
      expect(JSON.parse(native.text)).toEqual({
        error: expect.stringContaining("API key") as unknown,
      });
      expect(native.headers.get("www-authenticate")).toBe(
        'Bearer realm="ollama-proxy"',
      );
      const anthropic = await post(`${proxy.url}/v1/messages`, {
        ...chatBody("llama3.2"),
        max_tokens: 5,
      });
      expect(JSON.parse(anthropic.text)).toMatchObject({
        type: "error",
        error: { type: "authentication_error" },
      });
    });

    it("admits a user key to its models on native and /v1 routes and refuses others with 403", async () => {
      const { ollama, openai } = authed(proxy, "web");
      expect((await ollama.chat(ask("llama3.2"))).message.content).not.toBe("");
      expect(
        (await openai.chat.completions.create(ask("llama3.2"))).choices[0]!
          .message.content,
      ).not.toBe("");
      expect(await statusOf(ollama.chat(ask("qwen3:0.6b")))).toBe(403);
      const error = await openai.chat.completions
        .create(ask("qwen3:0.6b"))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(
        await statusOf(ollama.embed({ model: "all-minilm", input: "x" })),
      ).toBe(403);
      // Listing models needs a key but no model permission.
      expect((await ollama.list()).models.length).toBeGreaterThan(0);
    });

    it("keeps /analytics (prompts and responses) to admin keys", async () => {
      const search = (headers: Record<string, string>) =>
        fetch(`${proxy.url}/analytics/search`, { headers });
      expect((await search({})).status).toBe(401);
      const user = await search({
        Authorization: `Bearer ${keys.secrets.web!}`,
      });
      expect(user.status).toBe(403);
      expect(await user.json()).toMatchObject({
        error: expect.stringContaining("admin") as string,
      });
      // Admitted: this proxy has no LOKI_URL, so the API itself answers 503.
      const admin = await search({
        Authorization: `Bearer ${keys.secrets.ops!}`,
      });
      expect(admin.status).toBe(503);
    });

    it("keeps model management to admin keys", async () => {
      const web = authed(proxy, "web").ollama;
      const ops = authed(proxy, "ops").ollama;
      expect(await statusOf(web.pull({ model: "pulled", stream: false }))).toBe(
        403,
      );
      expect(await statusOf(web.delete({ model: "qwen3:0.6b" }))).toBe(403);
      expect((await ops.pull({ model: "pulled", stream: false })).status).toBe(
        "success",
      );
      expect(
        await statusOf(
          ops.copy({ source: "pulled", destination: "pulled-copy" }),
        ),
      ).toBe(200);
    });

    it("never forwards the key, and names the client after it in records and metrics", async () => {
      const { openai } = authed(proxy, "web");
      const { response } = await openai.chat.completions
        .create(ask("llama3.2"))
        .withResponse();
      const requestId = response.headers.get("x-request-id") ?? "";
      const seen = emulator.stats.lastRequest!.headers;
      expect(seen.authorization).toBeUndefined();
      expect(seen["x-api-key"]).toBeUndefined();
      const record = await proxy.recordFor(requestId);
      expect(record.client).toBe("web");
      const text = proxy.lines.map((line) => JSON.stringify(line)).join("\n");
      for (const secret of Object.values(keys.secrets))
        expect(text).not.toContain(secret);
      const samples = await scrape(proxy.url);
      expect(
        sumOf(samples, "ollama_requests_total", { client: "web" }),
      ).toBeGreaterThan(0);
      expect(
        samples
          .filter((s) => s.labels.client !== undefined)
          .every((s) => ["web", "ops", "_other"].includes(s.labels.client!)),
      ).toBe(true);
    });

    it("picks up a key added with `npm run keys` without a restart, and on SIGHUP", async () => {
      let secret = "";
      const code = await runKeysCommand(["add", "late", "--file", keys.file], {
        env: {},
        stdout: (text) => (secret += text),
        stderr: () => undefined,
      });
      expect(code).toBe(0);
      const late = new Ollama({
        host: proxy.url,
        headers: { "X-API-Key": secret.trim() },
      });
      await waitFor(async () => (await statusOf(late.list())) === 200, {
        timeoutMs: 5000,
      });
      await runKeysCommand(["remove", "late", "--file", keys.file], {
        env: {},
        stdout: () => undefined,
        stderr: () => undefined,
      });
      proxy.child.kill("SIGHUP");
      await waitFor(async () => (await statusOf(late.list())) === 401, {
        timeoutMs: 5000,
      });
    });
  });

  it("round-trips an alias through the openai SDK, streaming and not, and records both names", async () => {
    const proxy = await start({
      API_KEYS_FILE: keys.file,
      MODEL_ALIASES: "gpt-4o=llama3.2",
    });
    const { openai } = authed(proxy, "web");
    const direct = new OpenAI({
      baseURL: `${emulator.url}/v1`,
      apiKey: "x",
      maxRetries: 0,
    });
    const expected = await direct.chat.completions.create(ask("llama3.2"));
    const { data, response } = await openai.chat.completions
      .create(ask("gpt-4o"))
      .withResponse();
    expect(data.model).toBe("gpt-4o");
    expect(data.choices[0]!.message.content).toBe(
      expected.choices[0]!.message.content,
    );
    let streamed = "";
    for await (const chunk of await openai.chat.completions.create({
      ...chatBody("gpt-4o"),
      stream: true,
    })) {
      expect(chunk.model).toBe("gpt-4o");
      streamed += chunk.choices[0]?.delta.content ?? "";
    }
    expect(streamed).toBe(expected.choices[0]!.message.content);
    const record = await proxy.recordFor(response.headers.get("x-request-id")!);
    expect(record).toMatchObject({
      model: "llama3.2:latest",
      model_requested: "gpt-4o",
    });
    const native = await authed(proxy, "web").ollama.chat(ask("gpt-4o"));
    expect(native.model).toBe("gpt-4o");
  });

  it("estimates cost as tokens × price per million, in the record and the metric", async () => {
    const pricing = join(keys.dir, "pricing.yaml");
    await writeFile(
      pricing,
      "models:\n  llama3.2: { input: 1.5, output: 6 }\n",
    );
    const proxy = await start({
      API_KEYS_FILE: keys.file,
      PRICING_FILE: pricing,
    });
    const { data, response } = await authed(proxy, "web")
      .openai.chat.completions.create(ask("llama3.2"))
      .withResponse();
    const expected =
      (data.usage!.prompt_tokens * 1.5 + data.usage!.completion_tokens * 6) /
      1e6;
    const record = await proxy.recordFor(response.headers.get("x-request-id")!);
    expect(record.cost).toBeCloseTo(expected, 12);
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_estimated_cost_total", { client: "web" }),
    ).toBeCloseTo(expected, 12);
  });

  describe("with Redis", () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedisServer({ appendonly: false });
    });
    afterAll(() => redis.close());

    it("enforces 10 requests per minute exactly across two proxy processes", async () => {
      const env = { REDIS_URL: redis.url, LIMIT_REQUESTS_PER_MINUTE: "10" };
      const [a, b] = await Promise.all([start(env), start(env)]);
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          post(
            `${(i % 2 === 0 ? a : b).url}${i % 3 === 0 ? "/v1/chat/completions" : "/api/chat"}`,
            chatBody("llama3.2"),
          ),
        ),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(10);
      const limited = results.filter((r) => r.status === 429);
      expect(limited).toHaveLength(20);
      for (const r of limited) {
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
        const body = JSON.parse(r.text) as { error: string | { type: string } };
        expect(
          typeof body.error === "string" ||
            body.error.type === "rate_limit_error",
        ).toBe(true);
      }
      const rejected =
        sumOf(await scrape(a.url), "ollama_proxy_rejected_total", {
          reason: "rate_limited",
        }) +
        sumOf(await scrape(b.url), "ollama_proxy_rejected_total", {
          reason: "rate_limited",
        });
      expect(rejected).toBe(20);
    });

    it("gives a SIGKILLed proxy's concurrency slot back after the lease TTL", async () => {
      const env = {
        REDIS_URL: redis.url,
        LIMIT_CONCURRENT: "1",
        LIMITS_LEASE_TTL_MS: "1000",
        LIMIT_REQUESTS_PER_MINUTE: "0",
      };
      const [a, b] = await Promise.all([start(env), start(env)]);
      const holding = new AbortController();
      const stream = await fetch(`${a.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify(chatBody("slow", true)),
        signal: holding.signal,
      });
      expect(stream.status).toBe(200);
      expect(
        (await post(`${b.url}/api/chat`, chatBody("llama3.2"))).status,
      ).toBe(429);
      a.child.kill("SIGKILL");
      await once(a.child, "exit");
      holding.abort();
      await waitFor(
        async () =>
          (await post(`${b.url}/api/chat`, chatBody("llama3.2"))).status ===
          200,
        // A slot that outlived its owner would never come back: the wait is ten lease TTLs.
        {
          timeoutMs: 10_000,
          intervalMs: 100,
        },
      );
    });

    it("with Redis down serves (open) or answers 503 in the route's shape (closed)", async () => {
      const open = await start({
        REDIS_URL: redis.url,
        LIMIT_REQUESTS_PER_MINUTE: "100",
      });
      const closed = await start({
        REDIS_URL: redis.url,
        LIMIT_REQUESTS_PER_MINUTE: "100",
        LIMITS_ON_REDIS_ERROR: "closed",
      });
      await redis.kill("SIGKILL");
      try {
        expect(
          (await post(`${open.url}/api/chat`, chatBody("llama3.2"))).status,
        ).toBe(200);
        expect(
          sumOf(await scrape(open.url), "ollama_proxy_rejected_total", {
            reason: "redis_unavailable",
          }),
        ).toBe(1);
        const refused = await post(
          `${closed.url}/v1/chat/completions`,
          chatBody("llama3.2"),
        );
        expect(refused.status).toBe(503);
        expect(JSON.parse(refused.text)).toMatchObject({
          error: { type: "api_error" },
        });
      } finally {
        await redis.restart();
      }
    });
  });

  it("queues a burst beyond MAX_CONCURRENT and times out what waits too long", async () => {
    const proxy = await start({ MAX_CONCURRENT: "1", QUEUE_TIMEOUT_MS: "300" });
    const first = fetch(`${proxy.url}/api/chat`, {
      method: "POST",
      body: JSON.stringify(chatBody("slow", true)),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await post(`${proxy.url}/api/chat`, chatBody("llama3.2"));
    expect(second.status).toBe(429);
    expect(JSON.parse(second.text)).toEqual({
      error: expect.stringContaining("no capacity") as unknown,
    });
    await (await first).body?.cancel();
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_proxy_queue_wait_seconds_count"),
    ).toBeGreaterThanOrEqual(2);
    expect(
      sumOf(samples, "ollama_proxy_rejected_total", {
        reason: "queue_timeout",
      }),
    ).toBe(1);
  });
});
