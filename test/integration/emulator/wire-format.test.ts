// Raw bytes of the native API: framing, content types, omitempty metrics, Go escaping, model
// echo, stream defaults, load/unload and keep_alive, request decoding errors (reference §2–§6).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_MODELS,
  createEmulator,
  expectedCompletion,
} from "../../fixtures/ollama-emulator/emulator.ts";
import type {
  Emulator,
  ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { ndjson, postJson, raw } from "./raw-http.ts";

const [LLAMA] = DEFAULT_MODELS as [ModelSpec, ModelSpec, ModelSpec];
const COLD: ModelSpec = {
  name: "cold:latest",
  loadMs: 40,
  ttftMs: 5,
  tokensPerSecond: 2000,
  replyTokens: 4,
};
const METRIC_KEYS = [
  "total_duration",
  "load_duration",
  "prompt_eval_count",
  "prompt_eval_duration",
  "eval_count",
  "eval_duration",
];

let emulator: Emulator;
let url: string;

beforeAll(async () => {
  emulator = await createEmulator({ models: [...DEFAULT_MODELS, COLD] });
  url = emulator.url;
});

afterAll(async () => {
  await emulator.close();
});

describe("native framing", () => {
  it("streams NDJSON by default: one object per line, metrics only on the final done line", async () => {
    const res = await postJson(url, "/api/generate", {
      model: "llama3.2",
      prompt: "Why is the sky blue?",
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/x-ndjson");
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    const lines = ndjson(res.body);
    const done = lines.at(-1) ?? {};
    for (const line of lines.slice(0, -1)) {
      expect(Object.keys(line)).toEqual([
        "model",
        "created_at",
        "response",
        "done",
      ]);
      expect(line.done).toBe(false);
    }
    expect(Object.keys(done)).toEqual([
      "model",
      "created_at",
      "response",
      "done",
      "done_reason",
      "context",
      ...METRIC_KEYS,
    ]);
    const expected = expectedCompletion(LLAMA, "/api/generate", {
      model: "llama3.2",
      prompt: "Why is the sky blue?",
    });
    expect(done.prompt_eval_count).toBe(expected.promptEvalCount);
    expect(done.eval_count).toBe(expected.evalCount);
    expect(Number.isInteger(done.total_duration)).toBe(true);
    expect(lines.map((l) => l.response).join("")).toBe(expected.content);
    expect(String(lines[0]?.created_at)).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/,
    );
  });

  it("answers stream:false with one JSON body, charset and no trailing newline", async () => {
    const res = await postJson(url, "/api/chat", {
      model: "llama3.2",
      messages: [{ role: "user", content: "hi" }],
      stream: false,
    });
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(res.body.endsWith("}")).toBe(true);
    expect(Number(res.headers["content-length"])).toBe(
      Buffer.byteLength(res.body),
    );
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      "model",
      "created_at",
      "message",
      "done",
      "done_reason",
      ...METRIC_KEYS,
    ]);
  });

  it("echoes the model exactly as sent", async () => {
    for (const model of ["llama3.2", "llama3.2:latest", "LLAMA3.2"]) {
      const res = await postJson(url, "/api/generate", {
        model,
        prompt: "x",
        stream: false,
      });
      expect((JSON.parse(res.body) as { model: string }).model).toBe(model);
    }
  });

  it("escapes <, > and & the way Go's json.Marshal does", async () => {
    // Find a reply containing one of the HTML-significant words, then check the raw bytes.
    let body = "";
    for (
      let seed = 0;
      seed < 200 && !/\\u003c|\\u003e|\\u0026/.test(body);
      seed++
    ) {
      body = (
        await postJson(url, "/api/generate", {
          model: "llama3.2",
          prompt: "x",
          stream: false,
          options: { seed, num_predict: 30 },
        })
      ).body;
    }
    expect(body).toMatch(/\\u003c|\\u003e|\\u0026/);
    expect(body).not.toMatch(/[<>&]/);
  });

  it("omits zero metrics and reports load_duration from the configured load time", async () => {
    const first = JSON.parse(
      (
        await postJson(url, "/api/generate", {
          model: "cold",
          prompt: "x",
          stream: false,
        })
      ).body,
    ) as Record<string, number>;
    const second = JSON.parse(
      (
        await postJson(url, "/api/generate", {
          model: "cold",
          prompt: "x",
          stream: false,
        })
      ).body,
    ) as Record<string, number>;
    const expected = expectedCompletion(COLD, "/api/generate", {
      model: "cold",
      prompt: "x",
    });
    expect(first.load_duration).toBe(expected.coldLoadDurationNs);
    expect(first.total_duration).toBe(expected.coldTotalDurationNs);
    expect(second.load_duration).toBe(expected.warmLoadDurationNs);
    expect(second.total_duration).toBe(expected.warmTotalDurationNs);
    expect(second.prompt_eval_duration).toBe(5_000_000);
    expect(second.eval_duration).toBe(2_000_000);
  });
});

describe("load, unload and keep_alive", () => {
  it("answers an empty prompt with a single load object even when streaming", async () => {
    const res = await postJson(url, "/api/generate", { model: "llama3.2" });
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      "model",
      "created_at",
      "response",
      "done",
      "done_reason",
    ]);
    expect(body.done_reason).toBe("load");
    const chat = JSON.parse(
      (await postJson(url, "/api/chat", { model: "llama3.2", messages: [] }))
        .body,
    ) as Record<string, unknown>;
    expect(chat.message).toEqual({ role: "assistant", content: "" });
    expect(chat.done_reason).toBe("load");
  });

  it("loads models into /api/ps and unloads them with keep_alive 0", async () => {
    await postJson(url, "/api/chat", {
      model: "qwen3:0.6b",
      messages: [],
      keep_alive: -1,
    });
    let ps = JSON.parse((await raw(url, { path: "/api/ps" })).body) as {
      models: { name: string; expires_at: string }[];
    };
    const qwen = ps.models.find((m) => m.name === "qwen3:0.6b");
    expect(new Date(qwen?.expires_at ?? 0).getFullYear()).toBeGreaterThan(2200);
    expect(qwen?.expires_at).toMatch(/(Z|[+-]\d\d:\d\d)$/);

    const unload = JSON.parse(
      (await postJson(url, "/api/chat", { model: "qwen3:0.6b", keep_alive: 0 }))
        .body,
    ) as Record<string, unknown>;
    expect(unload.done_reason).toBe("unload");
    ps = JSON.parse((await raw(url, { path: "/api/ps" })).body) as typeof ps;
    expect(ps.models.map((m) => m.name)).not.toContain("qwen3:0.6b");

    // keep_alive 0 with a prompt runs, then unloads.
    await postJson(url, "/api/generate", {
      model: "qwen3:0.6b",
      prompt: "x",
      keep_alive: "0s",
      stream: false,
    });
    ps = JSON.parse((await raw(url, { path: "/api/ps" })).body) as typeof ps;
    expect(ps.models.map((m) => m.name)).not.toContain("qwen3:0.6b");
  });

  it("rejects a unitless keep_alive string like Go's time.ParseDuration", async () => {
    const res = await postJson(url, "/api/generate", {
      model: "llama3.2",
      prompt: "x",
      keep_alive: "300",
    });
    expect(res.status).toBe(400);
    expect(res.body).toBe(
      '{"error":"time: missing unit in duration \\"300\\""}',
    );
  });
});

describe("request decoding", () => {
  it.each([
    ["", "missing request body"],
    ["{", "unexpected EOF"],
    [
      '{"model":1}',
      "json: cannot unmarshal number into Go struct field GenerateRequest.model of type string",
    ],
    [
      "{'model'}",
      "invalid character '\\'' looking for beginning of object key string",
    ],
    [
      '{"model":"llama3.2","stream":"yes"}',
      "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool",
    ],
    [
      '{"model":"llama3.2","think":"loud","prompt":"x"}',
      'invalid think value: "loud" (must be "high", "medium", "low", "max", true, or false)',
    ],
  ])("answers %j with 400 %j", async (body, message) => {
    const res = await raw(url, { method: "POST", path: "/api/generate", body });
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(JSON.parse(res.body)).toEqual({ error: message });
  });

  it("ignores unknown fields and the Content-Type, and matches keys case-insensitively", async () => {
    const res = await raw(url, {
      method: "POST",
      path: "/api/generate",
      body: '{"MODEL":"llama3.2","prompt":"x","stream":false,"unknown":[1,2]} trailing',
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(200);
  });

  it("reports a wrongly typed option as a 500 and unknown models as 404", async () => {
    const bad = await postJson(url, "/api/generate", {
      model: "llama3.2",
      prompt: "x",
      options: { num_ctx: "big" },
    });
    expect(bad.status).toBe(500);
    expect(JSON.parse(bad.body)).toEqual({
      error: 'option "num_ctx" must be of type integer',
    });
    const missing = await postJson(url, "/api/generate", {
      model: "nope",
      prompt: "x",
    });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({
      error: "model 'nope' not found",
    });
    const empty = await postJson(url, "/api/chat", { model: "" });
    expect(JSON.parse(empty.body)).toEqual({ error: "model is required" });
  });

  it("refuses generate on an embedding model and thinking on a model without it", async () => {
    const embed = await postJson(url, "/api/generate", {
      model: "all-minilm",
      prompt: "x",
    });
    expect(embed.status).toBe(400);
    expect(JSON.parse(embed.body)).toEqual({
      error: '"all-minilm" does not support generate',
    });
    const think = await postJson(url, "/api/chat", {
      model: "llama3.2",
      messages: [{ role: "user", content: "x" }],
      think: true,
    });
    expect(JSON.parse(think.body)).toEqual({
      error: '"llama3.2" does not support thinking',
    });
    const tools = await postJson(url, "/api/chat", {
      model: "cold",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "f" } }],
    });
    expect(JSON.parse(tools.body)).toEqual({
      error: "registry.ollama.ai/library/cold:latest does not support tools",
    });
  });
});

describe("embeddings and management bodies", () => {
  it("answers /api/embed with float32 values and no newline", async () => {
    const res = await postJson(url, "/api/embed", {
      model: "all-minilm",
      input: "hello world",
    });
    expect(res.headers["content-type"]).toBe("application/json; charset=utf-8");
    const body = JSON.parse(res.body) as {
      embeddings: number[][];
      prompt_eval_count: number;
    };
    expect(Object.keys(body)).toEqual([
      "model",
      "embeddings",
      "total_duration",
      "load_duration",
      "prompt_eval_count",
    ]);
    // float32 precision: at most 9 significant digits (the legacy route prints float64 expansions).
    const digits = (v: number): number =>
      String(Math.abs(v))
        .replace(/^0\.0*/, "")
        .replace(".", "")
        .replace(/e.*$/, "").length;
    expect(
      Math.max(...(body.embeddings[0] ?? []).map(digits)),
    ).toBeLessThanOrEqual(9);
    const legacy = JSON.parse(
      (
        await postJson(url, "/api/embeddings", {
          model: "all-minilm",
          prompt: "hello world",
        })
      ).body,
    ) as { embedding: number[] };
    expect(Object.keys(legacy)).toEqual(["embedding"]);
    expect(Math.max(...legacy.embedding.map(digits))).toBeGreaterThan(9);
    expect(
      JSON.parse(
        (await postJson(url, "/api/embed", { model: "all-minilm", input: [] }))
          .body,
      ),
    ).toEqual({ model: "all-minilm", embeddings: [] });
    const missing = await postJson(url, "/api/embed", {
      model: "nope",
      input: "x",
    });
    expect(JSON.parse(missing.body)).toEqual({
      error: 'model "nope" not found, try pulling it first',
    });
    const badInput = await postJson(url, "/api/embed", {
      model: "all-minilm",
      input: [1],
    });
    expect(JSON.parse(badInput.body)).toEqual({ error: "invalid input type" });
  });

  it("answers copy and delete with an empty 200, and 404 for a missing model", async () => {
    const copy = await postJson(url, "/api/copy", {
      source: "llama3.2",
      destination: "mine:v1",
    });
    expect(copy.status).toBe(200);
    expect(copy.body).toBe("");
    expect(copy.headers["content-length"]).toBe("0");
    const del = await raw(url, {
      method: "DELETE",
      path: "/api/delete",
      body: '{"model":"mine:v1"}',
    });
    expect(del.status).toBe(200);
    expect(del.body).toBe("");
    const again = await raw(url, {
      method: "DELETE",
      path: "/api/delete",
      body: '{"model":"mine:v1"}',
    });
    expect(again.status).toBe(404);
    expect(JSON.parse(again.body)).toEqual({
      error: "model 'mine:v1' not found",
    });
  });

  it("streams pull progress with completed omitted while zero, or only success when not streaming", async () => {
    const res = await postJson(url, "/api/pull", { name: "tinyllama" });
    expect(res.headers["content-type"]).toBe("application/x-ndjson");
    const lines = ndjson(res.body);
    expect(lines[0]).toEqual({ status: "pulling manifest" });
    expect(lines[1]).not.toHaveProperty("completed");
    expect(lines.at(-1)).toEqual({ status: "success" });
    const whole = await postJson(url, "/api/pull", {
      model: "tinyllama",
      stream: false,
    });
    expect(whole.headers["content-type"]).toBe("application/json");
    expect(whole.body).toBe('{"status":"success"}');
    const tags = JSON.parse((await raw(url, { path: "/api/tags" })).body) as {
      models: { name: string }[];
    };
    expect(tags.models.map((m) => m.name)).toContain("tinyllama:latest");
  });

  it("checks blob digests", async () => {
    const data = Buffer.from("hello blob");
    const { createHash } = await import("node:crypto");
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    expect(
      (await raw(url, { method: "HEAD", path: `/api/blobs/${digest}` })).status,
    ).toBe(404);
    expect(
      (
        await raw(url, {
          method: "POST",
          path: `/api/blobs/${digest}`,
          body: data,
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await raw(url, {
          method: "POST",
          path: `/api/blobs/${digest}`,
          body: data,
        })
      ).status,
    ).toBe(200);
    expect(
      (await raw(url, { method: "HEAD", path: `/api/blobs/${digest}` })).status,
    ).toBe(200);
    const wrong = await raw(url, {
      method: "POST",
      path: `/api/blobs/sha256:${"0".repeat(64)}`,
      body: data,
    });
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.body)).toEqual({
      error: `digest mismatch, expected "sha256:${"0".repeat(64)}", got "${digest}"`,
    });
    expect(
      (await raw(url, { method: "HEAD", path: "/api/blobs/nope" })).status,
    ).toBe(400);
  });

  it("answers / and /api/version", async () => {
    const root = await raw(url, { path: "/" });
    expect(root.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(root.body).toBe("Ollama is running");
    const head = await raw(url, { method: "HEAD", path: "/" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect((await raw(url, { path: "/api/version" })).body).toBe(
      '{"version":"0.33.0"}',
    );
  });
});
