// Several Ollama servers behind one proxy (OLLAMA_BACKENDS): three emulators holding different models, the real
// proxy process in front. Routing by model, merged lists, management fan-out, failover, and the backend named in
// metrics and records.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
  type ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { scrape, sumOf, untilPolled } from "../../helpers/metrics.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const fast = { ttftMs: 5, tokensPerSecond: 0, loadMs: 5, replyTokens: 4 };
const LLAMA: ModelSpec = { name: "llama3.2:latest", ...fast };
const QWEN: ModelSpec = {
  name: "qwen3:0.6b",
  ...fast,
  // Slow enough for a stream to be cut by its backend's death.
  tokensPerSecond: 40,
};
const MINILM: ModelSpec = {
  name: "all-minilm:latest",
  kind: "embedding",
  capabilities: ["embedding"],
  ...fast,
};

describe("several backends", () => {
  let a: Emulator;
  let b: Emulator;
  let c: Emulator;
  let junk: http.Server;
  let proxy: ProxyProcess;

  const post = async (
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
    via: ProxyProcess = proxy,
  ) => {
    const response = await fetch(`${via.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      id: response.headers.get("x-request-id") ?? "",
      text: await response.text(),
    };
  };
  const generate = (
    model: string,
    headers: Record<string, string> = {},
    via: ProxyProcess = proxy,
  ) =>
    post("/api/generate", { model, prompt: "hi", stream: false }, headers, via);
  const healthy = async (backend: string) =>
    sumOf(await scrape(proxy.url), "ollama_proxy_backend_healthy", {
      backend,
    });

  beforeAll(async () => {
    a = await createEmulator({ models: [LLAMA, MINILM], version: "0.33.3" });
    b = await createEmulator({ models: [LLAMA, QWEN], version: "0.12.5" });
    c = await createEmulator({ models: [QWEN], version: "0.33.0" });
    // A "backend" that answers the poll with garbage: it must cost nobody anything.
    junk = http.createServer((_req, res) => res.end("<html>not ollama"));
    await new Promise<void>((resolve) =>
      junk.listen(0, "127.0.0.1", () => resolve()),
    );
    const junkPort = (junk.address() as AddressInfo).port;
    proxy = await startProxy({
      OLLAMA_URL: "",
      OLLAMA_BACKENDS: `a=${a.url},b=${b.url},c=${c.url},junk=http://127.0.0.1:${junkPort}`,
      POLL_INTERVAL_MS: "200",
    });
    await waitFor(
      async () => (await healthy("junk")) === 0 && (await healthy("c")) === 1,
      {
        timeoutMs: 10_000,
        message: "the first polls did not end",
      },
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all([a, b, c].map((e) => e?.close()));
    junk?.close();
  });

  it("sends a request only to backends that have its model", async () => {
    const before = [a, b, c].map((e) => e.stats.completedGenerations);
    for (let i = 0; i < 6; i++)
      expect((await generate("qwen3:0.6b")).status).toBe(200);
    const after = [a, b, c].map((e) => e.stats.completedGenerations);
    expect(after[0]! - before[0]!).toBe(0);
    expect(after[1]! - before[1]! + (after[2]! - before[2]!)).toBe(6);
    const embed = await post("/api/embed", {
      model: "all-minilm",
      input: "x",
    });
    expect(embed.status).toBe(200);
  });

  it("answers 404 in the route family's shape when no backend has the model", async () => {
    const native = await generate("nowhere:7b");
    expect(native.status).toBe(404);
    expect(JSON.parse(native.text)).toEqual({
      error:
        'model "nowhere:7b" not found on any backend, try pulling it first',
    });
    const openai = await post("/v1/chat/completions", {
      model: "nowhere:7b",
      messages: [{ role: "user", content: "hi" }],
    });
    expect(openai.status).toBe(404);
    expect(
      (JSON.parse(openai.text) as { error: { type: string } }).error.type,
    ).toBe("not_found_error");
    const record = await proxy.recordFor(native.id);
    expect(record).toMatchObject({ status: 404, outcome: "rejected" });
    expect(record.backend).toBeUndefined();
  });

  it("prefers the backend where the model is loaded", async () => {
    // Loaded on a only (the request names it), then seen by a poll.
    expect(
      (await generate("llama3.2", { "X-Ollama-Backend": "a" })).status,
    ).toBe(200);
    await waitFor(
      async () =>
        sumOf(await scrape(proxy.url), "ollama_model_loaded", {
          backend: "a",
          model: "llama3.2:latest",
        }) === 1,
      { timeoutMs: 5000, message: "the poll did not see the load" },
    );
    const before = b.stats.completedGenerations;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await generate("llama3.2")).id);
    expect(b.stats.completedGenerations).toBe(before);
    for (const id of ids)
      expect(await proxy.recordFor(id)).toMatchObject({ backend: "a" });
    const response = await fetch(`${proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", prompt: "hi", stream: false }),
    });
    await response.text();
    expect(response.headers.get("x-ollama-backend")).toBe("a");
  });

  it("merges tags, ps, /v1/models and version like one Ollama", async () => {
    const tags = (await (await fetch(`${proxy.url}/api/tags`)).json()) as {
      models: Array<{ name: string }>;
    };
    expect(tags.models.map((m) => m.name).sort()).toEqual([
      "all-minilm:latest",
      "llama3.2:latest",
      "qwen3:0.6b",
    ]);
    const models = (await (await fetch(`${proxy.url}/v1/models`)).json()) as {
      data: Array<{ id: string }>;
    };
    expect(models.data.map((m) => m.id).sort()).toEqual([
      "all-minilm:latest",
      "llama3.2:latest",
      "qwen3:0.6b",
    ]);
    const version = await fetch(`${proxy.url}/api/version`);
    // junk answers garbage: out of the rotation, named as missing from the answer.
    expect(version.headers.get("x-ollama-backends-missing")).toBe("junk");
    expect(await version.json()).toEqual({ version: "0.12.5" });
    const ps = (await (await fetch(`${proxy.url}/api/ps`)).json()) as {
      models: Array<{ name: string }>;
    };
    expect(ps.models.map((m) => m.name)).toContain("llama3.2:latest");
  });

  it("refuses an unknown backend named in the header", async () => {
    const response = await generate("llama3.2", { "X-Ollama-Backend": "gpu9" });
    expect(response.status).toBe(400);
    expect((JSON.parse(response.text) as { error: string }).error).toBe(
      'unknown backend "gpu9" in X-Ollama-Backend (configured: a, b, c, junk)',
    );
  });

  it("pulls on every backend with one progress stream, and names the backends that failed", async () => {
    const ok = await post("/api/pull", { model: "pulled" });
    expect(ok.status).toBe(200);
    const lines = ok.text
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toEqual({ status: "success" });
    expect(lines.filter((l) => l.status === "success")).toHaveLength(1);
    for (const e of [a, b, c])
      expect(e.models().map((m) => m.name)).toContain("pulled:latest");

    c.setFault({ name: "model-not-found", times: 1 });
    const failed = await post("/api/pull", { model: "other" });
    const last = JSON.parse(failed.text.trim().split("\n").at(-1)!) as {
      error?: string;
    };
    expect(last.error).toMatch(
      /^pull failed on c \(.+\); it succeeded on a, b$/,
    );
    const record = await proxy.recordFor(failed.id);
    expect(record.outcome).not.toBe("ok");
  });

  it("metrics carry the backend", async () => {
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_requests_total", { backend: "a" }),
    ).toBeGreaterThan(0);
    expect(sumOf(samples, "ollama_upstream_up", { backend: "junk" })).toBe(0);
    expect(sumOf(samples, "ollama_upstream_up", { backend: "b" })).toBe(1);
    expect(
      sumOf(samples, "ollama_upstream_info", {
        backend: "b",
        version: "0.12.5",
      }),
    ).toBe(1);
    expect(
      sumOf(samples, "ollama_models_available", { backend: "c" }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("a backend killed mid-traffic: its stream ends with an error and a record, new requests go elsewhere", async () => {
    // A stream on b (qwen3 is on b and c; b is chosen by name to make it certain).
    const response = await fetch(`${proxy.url}/api/generate`, {
      method: "POST",
      headers: { "content-type": "application/json", "X-Ollama-Backend": "b" },
      body: JSON.stringify({
        model: "qwen3:0.6b",
        prompt: "a long one",
        options: { num_predict: 400 },
      }),
    });
    const id = response.headers.get("x-request-id") ?? "";
    const reader: ReadableStreamDefaultReader<Uint8Array> =
      response.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    const bPort = b.port;
    await b.close();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    // The client's library raises Ollama's error instead of a broken connection.
    const last = JSON.parse(text.trim().split("\n").at(-1)!) as {
      error?: string;
    };
    expect(last.error).toMatch(/closed the connection mid-response$/);
    const record = await proxy.recordFor(id);
    expect(record).toMatchObject({ backend: "b" });
    expect(record.outcome).not.toBe("ok");

    // Every request that had not started succeeds: a failed attempt on b is retried on c.
    const results = await Promise.all(
      Array.from({ length: 8 }, () => generate("qwen3:0.6b")),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    for (const r of results)
      expect(await proxy.recordFor(r.id)).toMatchObject({ backend: "c" });
    await waitFor(async () => (await healthy("b")) === 0, {
      timeoutMs: 5000,
      message: "b was not taken out",
    });

    // b comes back on its port with a model of its own: the poll lets it rejoin and learns what it has.
    b = await createEmulator({
      port: bPort,
      models: [LLAMA, QWEN, { name: "fresh:latest", ...fast }],
    });
    await waitFor(async () => (await healthy("b")) === 1, {
      timeoutMs: 10_000,
      message: "b did not rejoin",
    });
    const fresh = await generate("fresh");
    expect(fresh.status).toBe(200);
    expect(await proxy.recordFor(fresh.id)).toMatchObject({ backend: "b" });
  });

  it("retries once elsewhere a request whose backend reset or refused it before any byte", async () => {
    // A second proxy that polls rarely, in front of two fresh backends with the same model (none loaded):
    // only the traffic can tell it that one died, and ties alternate between them.
    const left = await createEmulator({ models: [QWEN] });
    const right = await createEmulator({ models: [QWEN] });
    const slow = await startProxy({
      OLLAMA_URL: "",
      OLLAMA_BACKENDS: `b=${left.url},c=${right.url}`,
      POLL_INTERVAL_MS: "600000",
    });
    try {
      await untilPolled(slow.url, "c");
      // A reset before any response byte: the request is sent to the other backend, the client sees a 200.
      right.setFault({ name: "abrupt-close", times: 1 });
      for (let i = 0; i < 4; i++)
        expect((await generate("qwen3:0.6b", {}, slow)).status).toBe(200);
      expect(
        sumOf(await scrape(slow.url), "ollama_proxy_backend_retries_total", {
          backend: "c",
          reason: "reset",
        }),
      ).toBe(1);

      // c answers once more (so that both hold the model again for this proxy), then dies: only the traffic
      // can tell this proxy.
      expect(
        (await generate("qwen3:0.6b", { "X-Ollama-Backend": "c" }, slow))
          .status,
      ).toBe(200);
      await right.close();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => generate("qwen3:0.6b", {}, slow)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(6).fill(200));
      for (const r of results)
        expect(await slow.recordFor(r.id)).toMatchObject({
          backend: "b",
          outcome: "ok",
        });
      const samples = await scrape(slow.url);
      expect(
        sumOf(samples, "ollama_proxy_backend_retries_total", {
          backend: "c",
          reason: "connect",
        }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        sumOf(samples, "ollama_proxy_backend_ejections_total", {
          backend: "c",
          reason: "connect",
        }),
      ).toBe(1);
      expect(
        sumOf(samples, "ollama_proxy_backend_healthy", { backend: "c" }),
      ).toBe(0);
    } finally {
      await slow.stop("SIGKILL");
      await left.close();
    }
  });
});
