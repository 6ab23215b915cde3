// Fault injection (header and setFault) and client aborts: each failure must look on the wire
// exactly like Ollama's, and the emulator's counters must show what happened to generation.
import { request } from "node:http";
import type { IncomingMessage } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_MODELS,
  createEmulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import type {
  Emulator,
  ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { ndjson, postJson, sse, sseJson, waitFor } from "./raw-http.ts";

const PACED: ModelSpec = {
  name: "paced:latest",
  capabilities: ["completion"],
  tokensPerSecond: 200,
  replyTokens: 400,
};

let emulator: Emulator;
let url: string;

beforeAll(async () => {
  emulator = await createEmulator({ models: [...DEFAULT_MODELS, PACED] });
  url = emulator.url;
});

afterEach(() => emulator.setFault(undefined));

afterAll(async () => {
  await emulator.close();
});

const generate = { model: "llama3.2", prompt: "hello" };
const chat = {
  model: "llama3.2",
  messages: [{ role: "user", content: "hello" }],
};
const fault = (value: string) => ({ "x-emulator-fault": value });

/** Opens a streaming POST and resolves with the response once `lines` NDJSON lines arrived. */
function openStream(
  path: string,
  body: unknown,
  lines: number,
  headers: Record<string, string> = {},
) {
  return new Promise<{
    res: IncomingMessage;
    received: () => string;
    destroy: () => void;
  }>((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(new URL(path, url), {
      method: "POST",
      agent: false,
      headers: {
        "content-length": String(Buffer.byteLength(payload)),
        ...headers,
      },
    });
    let text = "";
    req.on("response", (res) => {
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const before = text.split("\n").length - 1;
        text += chunk;
        if (before < lines && text.split("\n").length - 1 >= lines) {
          resolve({ res, received: () => text, destroy: () => req.destroy() });
        }
      });
      res.on("error", () => undefined);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("faults before the first chunk", () => {
  it("model-not-found answers 404 in each route's own shape", async () => {
    const native = await postJson(
      url,
      "/api/chat",
      chat,
      fault("model-not-found"),
    );
    expect(native.status).toBe(404);
    expect(native.body).toBe(`{"error":"model 'llama3.2' not found"}`);
    const v1 = await postJson(
      url,
      "/v1/chat/completions",
      chat,
      fault("model-not-found"),
    );
    expect(JSON.parse(v1.body)).toMatchObject({
      error: { type: "not_found_error", message: "model 'llama3.2' not found" },
    });
    const embed = await postJson(
      url,
      "/api/embed",
      { model: "all-minilm", input: "x" },
      fault("model-not-found"),
    );
    expect(JSON.parse(embed.body)).toEqual({
      error: 'model "all-minilm" not found, try pulling it first',
    });
    const pull = await postJson(
      url,
      "/api/pull",
      { model: "llama3.2" },
      fault("model-not-found"),
    );
    expect(pull.status).toBe(200);
    expect(ndjson(pull.body)).toEqual([
      { status: "pulling manifest" },
      { error: "pull model manifest: file does not exist" },
    ]);
  });

  it("error-before-first-chunk uses the status and application/json without charset when streaming", async () => {
    const streamed = await postJson(
      url,
      "/api/generate",
      generate,
      fault(
        "error-before-first-chunk; status=429; message=rate limit exceeded",
      ),
    );
    expect(streamed.status).toBe(429);
    expect(streamed.headers["content-type"]).toBe("application/json");
    expect(streamed.body).toBe('{"error":"rate limit exceeded"}');
    const whole = await postJson(
      url,
      "/api/generate",
      { ...generate, stream: false },
      fault("error-before-first-chunk; status=503"),
    );
    expect(whole.status).toBe(503);
    expect(whole.headers["content-type"]).toBe(
      "application/json; charset=utf-8",
    );
    const v1 = await postJson(
      url,
      "/v1/chat/completions",
      { ...chat, stream: true },
      fault("error-before-first-chunk"),
    );
    expect(v1.status).toBe(500);
    expect(v1.body.endsWith("\n")).toBe(true);
    expect(JSON.parse(v1.body)).toMatchObject({ error: { type: "api_error" } });
  });

  it("busy answers 503 with Ollama's message (two spaces)", async () => {
    const res = await postJson(url, "/api/chat", chat, fault("busy"));
    expect(res.status).toBe(503);
    expect(JSON.parse(res.body)).toEqual({
      error:
        "server busy, please try again.  maximum pending requests exceeded",
    });
  });
});

describe("faults after the stream started", () => {
  it("error-mid-stream ends native NDJSON with an error line and no done line", async () => {
    const before = emulator.stats.failedGenerations;
    const res = await postJson(
      url,
      "/api/chat",
      chat,
      fault("error-mid-stream; after=3"),
    );
    expect(res.status).toBe(200);
    const lines = ndjson(res.body);
    expect(lines).toHaveLength(4);
    expect(lines.at(-1)).toEqual({
      error: "an error was encountered while running the model",
    });
    expect(lines.some((l) => l.done === true)).toBe(false);
    expect(emulator.stats.failedGenerations).toBe(before + 1);
  });

  it("error-mid-stream is swallowed on /v1: an empty delta, then EOF without finish, usage or [DONE]", async () => {
    const body = {
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    };
    const res = await postJson(
      url,
      "/v1/chat/completions",
      body,
      fault("error-mid-stream; after=2"),
    );
    const chunks = sseJson(res.body) as {
      choices: { delta: Record<string, unknown>; finish_reason: unknown }[];
    }[];
    expect(chunks).toHaveLength(3);
    expect(chunks[2]?.choices[0]).toEqual({
      index: 0,
      delta: { content: "" },
      finish_reason: null,
    });
    expect(res.body).not.toContain("[DONE]");
    const completions = await postJson(
      url,
      "/v1/completions",
      { model: "llama3.2", prompt: "x", stream: true },
      fault("error-mid-stream; after=1"),
    );
    expect(sseJson(completions.body).at(-1)).toMatchObject({
      choices: [{ text: "", finish_reason: null }],
    });
    expect(completions.body).not.toContain("[DONE]");
    const responses = await postJson(
      url,
      "/v1/responses",
      { model: "llama3.2", input: "x", stream: true },
      fault("error-mid-stream"),
    );
    expect(sse(responses.body).map((f) => f.event)).not.toContain(
      "response.completed",
    );
  });

  it("no-done ends the stream cleanly without the terminal frames", async () => {
    const native = ndjson(
      (await postJson(url, "/api/generate", generate, fault("no-done"))).body,
    );
    expect(native.length).toBeGreaterThan(0);
    expect(native.every((l) => l.done === false)).toBe(true);
    const v1 = await postJson(
      url,
      "/v1/chat/completions",
      { ...chat, stream: true },
      fault("no-done"),
    );
    expect(v1.body).not.toContain("[DONE]");
    expect(v1.body).not.toContain('"finish_reason":"stop"');
    emulator.setFault({ name: "no-done", afterChunks: 1 });
    expect(
      ndjson((await postJson(url, "/api/generate", generate)).body),
    ).toHaveLength(1);
  });

  it("abrupt-close destroys the socket mid-stream", async () => {
    const before = emulator.stats.failedGenerations;
    await expect(
      postJson(url, "/api/generate", generate, fault("abrupt-close; after=2")),
    ).rejects.toThrow();
    await waitFor(() => emulator.stats.failedGenerations === before + 1);
  });

  it("stall stops sending but keeps the connection open", async () => {
    const stream = await openStream(
      "/api/generate",
      { model: "paced", prompt: "x" },
      2,
      fault("stall; after=2"),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(
      stream
        .received()
        .split("\n")
        .filter((l) => l !== ""),
    ).toHaveLength(2);
    expect(stream.res.complete).toBe(false);
    expect(stream.res.destroyed).toBe(false);
    expect(emulator.stats.activeGenerations).toBe(0);
    stream.destroy();
  });
});

describe("programmatic faults", () => {
  it("applies to the next `times` requests, then clears; a header wins over it", async () => {
    emulator.setFault({
      name: "error-before-first-chunk",
      status: 502,
      times: 2,
    });
    expect((await postJson(url, "/api/chat", chat)).status).toBe(502);
    expect((await postJson(url, "/api/chat", chat, fault("busy"))).status).toBe(
      503,
    );
    expect((await postJson(url, "/api/chat", chat)).status).toBe(502);
    expect((await postJson(url, "/api/chat", chat)).status).toBe(200);
    // Non-inference routes are never faulted.
    emulator.setFault({ name: "busy" });
    expect(
      (await postJson(url, "/api/show", { model: "llama3.2" })).status,
    ).toBe(200);
    expect((await postJson(url, "/api/generate", generate)).status).toBe(503);
  });
});

describe("client aborts", () => {
  it("stop a streamed generation at once", async () => {
    const { abortedGenerations, completedGenerations } = emulator.stats;
    const stream = await openStream(
      "/api/generate",
      { model: "paced", prompt: "x" },
      3,
    );
    expect(emulator.stats.activeGenerations).toBe(1);
    stream.destroy();
    await waitFor(
      () => emulator.stats.abortedGenerations === abortedGenerations + 1,
    );
    expect(emulator.stats.activeGenerations).toBe(0);
    expect(emulator.stats.completedGenerations).toBe(completedGenerations);
  });

  it("stop a non-streamed generation too", async () => {
    const { abortedGenerations } = emulator.stats;
    const controller = new AbortController();
    const pending = fetch(`${url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "paced", prompt: "x", stream: false }),
      signal: controller.signal,
    });
    await waitFor(() => emulator.stats.activeGenerations === 1);
    controller.abort();
    await expect(pending).rejects.toThrow();
    await waitFor(
      () => emulator.stats.abortedGenerations === abortedGenerations + 1,
    );
    expect(emulator.stats.activeGenerations).toBe(0);
  });
});
