// Raw bytes of the compatibility APIs: /v1 chat and completions SSE (current and legacy
// formats), /v1/responses and /v1/messages event streams, and their error shapes (§5, §7).
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
import { postJson, sse, sseJson } from "./raw-http.ts";

const [LLAMA, QWEN] = DEFAULT_MODELS as [ModelSpec, ModelSpec, ModelSpec];
const chat = {
  model: "llama3.2",
  messages: [{ role: "user", content: "hello there" }],
};

let emulator: Emulator;
let legacy: Emulator;

beforeAll(async () => {
  emulator = await createEmulator();
  legacy = await createEmulator({ openaiStreamFormat: "legacy" });
});

afterAll(async () => {
  await Promise.all([emulator.close(), legacy.close()]);
});

describe("/v1/chat/completions", () => {
  it("does not stream unless asked, and ends JSON bodies with a newline", async () => {
    const res = await postJson(emulator.url, "/v1/chat/completions", chat);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.body.endsWith("}\n")).toBe(true);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual([
      "id",
      "object",
      "created",
      "model",
      "system_fingerprint",
      "choices",
      "usage",
    ]);
  });

  it("streams the current format: role first only, empty-delta finish, usage, [DONE]", async () => {
    const res = await postJson(emulator.url, "/v1/chat/completions", {
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.headers["content-type"]).toBe("text/event-stream");
    const frames = sse(res.body);
    expect(frames.every((f) => f.event === undefined)).toBe(true);
    expect(frames.at(-1)?.data).toBe("[DONE]");
    const chunks = sseJson(res.body) as {
      choices: {
        delta: Record<string, unknown>;
        finish_reason: string | null;
      }[];
      usage?: unknown;
    }[];
    const expected = expectedCompletion(LLAMA, "/v1/chat/completions", chat);
    expect(chunks).toHaveLength(expected.evalCount + 2);
    expect(chunks[0]?.choices[0]?.delta).toEqual({
      role: "assistant",
      content: expected.content.split(" ")[0],
    });
    expect(chunks[1]?.choices[0]?.delta).not.toHaveProperty("role");
    expect(chunks.at(-2)?.choices).toEqual([
      { index: 0, delta: {}, finish_reason: "stop" },
    ]);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: {
        prompt_tokens: expected.promptEvalCount,
        completion_tokens: expected.evalCount,
      },
    });
  });

  it("streams the legacy format: role on every chunk, finish on the last content chunk", async () => {
    const res = await postJson(legacy.url, "/v1/chat/completions", {
      ...chat,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseJson(res.body) as {
      choices: {
        delta: Record<string, unknown>;
        finish_reason: string | null;
      }[];
    }[];
    const content = chunks.slice(0, -1);
    expect(content.every((c) => c.choices[0]?.delta.role === "assistant")).toBe(
      true,
    );
    expect(content.at(-1)?.choices[0]).toEqual({
      index: 0,
      delta: { role: "assistant", content: "" },
      finish_reason: "stop",
    });
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(res.body.endsWith("data: [DONE]\n\n")).toBe(true);
  });

  it("splits reasoning and content for a thinking model", async () => {
    const body = {
      model: "qwen3:0.6b",
      messages: [{ role: "user", content: "think" }],
      stream: true,
    };
    const chunks = sseJson(
      (await postJson(emulator.url, "/v1/chat/completions", body)).body,
    ) as { choices: { delta: Record<string, unknown> }[] }[];
    const expected = expectedCompletion(QWEN, "/v1/chat/completions", body);
    expect(chunks[0]?.choices[0]?.delta).toEqual({
      role: "assistant",
      content: "",
      reasoning: expected.thinking.split(" ")[0],
    });
    expect(
      chunks
        .map((c) => c.choices[0]?.delta.reasoning)
        .filter((r): r is string => typeof r === "string")
        .join(""),
    ).toBe(expected.thinking);
  });

  it("reports middleware errors with charset and no newline, handler errors without charset and with one", async () => {
    const empty = await postJson(emulator.url, "/v1/chat/completions", {
      model: "llama3.2",
      messages: [],
    });
    expect(empty.status).toBe(400);
    expect(empty.headers["content-type"]).toBe(
      "application/json; charset=utf-8",
    );
    expect(empty.body).toBe(
      `{"error":{"message":"[] is too short - 'messages'","type":"invalid_request_error","param":null,"code":null}}`,
    );
    const eof = await postJson(emulator.url, "/v1/chat/completions", "");
    expect(JSON.parse(eof.body)).toMatchObject({ error: { message: "EOF" } });
    const missing = await postJson(emulator.url, "/v1/chat/completions", {
      ...chat,
      model: "nope",
      stream: true,
    });
    expect(missing.status).toBe(404);
    expect(missing.headers["content-type"]).toBe("application/json");
    expect(missing.body).toBe(
      `{"error":{"message":"model 'nope' not found","type":"not_found_error","param":null,"code":null}}\n`,
    );
  });
});

describe("/v1/completions", () => {
  it("puts choices before model and repeats a zero usage on every chunk with include_usage", async () => {
    const res = await postJson(emulator.url, "/v1/completions", {
      model: "llama3.2",
      prompt: "hi",
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = sseJson(res.body);
    expect(Object.keys(chunks[0] ?? {})).toEqual([
      "id",
      "object",
      "created",
      "choices",
      "model",
      "system_fingerprint",
      "usage",
    ]);
    const expected = expectedCompletion(LLAMA, "/v1/completions", {
      model: "llama3.2",
      prompt: "hi",
    });
    expect(chunks).toHaveLength(expected.evalCount + 2);
    expect(
      chunks
        .slice(0, -1)
        .every(
          (c) =>
            JSON.stringify(c.usage) ===
            '{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}',
        ),
    ).toBe(true);
    expect(chunks.at(-2)).toMatchObject({
      choices: [{ text: "", finish_reason: "stop" }],
    });
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { completion_tokens: expected.evalCount },
    });
  });
});

describe("/v1/responses", () => {
  it("streams named events with sequence numbers, usage only in response.completed, no [DONE]", async () => {
    const res = await postJson(emulator.url, "/v1/responses", {
      model: "qwen3:0.6b",
      input: "hi",
      stream: true,
    });
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(res.headers["cache-control"]).toBe("no-cache");
    const frames = sse(res.body);
    expect(frames.every((f) => f.event !== undefined)).toBe(true);
    expect(res.body).not.toContain("[DONE]");
    const events = frames.map(
      (f) =>
        JSON.parse(f.data) as {
          type: string;
          sequence_number: number;
          response?: { usage: unknown };
        },
    );
    expect(events.map((e) => e.sequence_number)).toEqual(
      events.map((_, i) => i),
    );
    expect(events.map((e, i) => e.type === frames[i]?.event)).not.toContain(
      false,
    );
    expect(
      events
        .filter(
          (e) => e.response?.usage !== undefined && e.response.usage !== null,
        )
        .map((e) => e.type),
    ).toEqual(["response.completed"]);
    expect(events.map((e) => e.type)).toContain(
      "response.reasoning_summary_text.delta",
    );
  });
});

describe("/v1/messages", () => {
  it("streams Anthropic events with the final usage in message_delta", async () => {
    const body = {
      model: "llama3.2",
      max_tokens: 6,
      messages: [{ role: "user", content: "hello there" }],
      stream: true,
    };
    const res = await postJson(emulator.url, "/v1/messages", body);
    const frames = sse(res.body);
    expect(frames.map((f) => f.event)).toEqual([
      "message_start",
      "content_block_start",
      ...Array<string>(6).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const expected = expectedCompletion(LLAMA, "/v1/messages", body);
    const delta = JSON.parse(frames.at(-2)?.data ?? "{}") as unknown;
    expect(delta).toEqual({
      type: "message_delta",
      delta: { stop_reason: "max_tokens" },
      usage: { input_tokens: expected.promptEvalCount, output_tokens: 6 },
    });
  });

  it("validates like the Anthropic middleware", async () => {
    const res = await postJson(emulator.url, "/v1/messages", {
      model: "llama3.2",
      messages: [{ role: "user", content: "x" }],
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "max_tokens is required and must be positive",
      },
    });
  });
});
