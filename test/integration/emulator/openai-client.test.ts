// The official openai SDK pointed at the emulator's /v1: chat (streamed or not, with and without
// include_usage), completions, embeddings, models, responses and error mapping.
import OpenAI from "openai";
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

const [LLAMA, QWEN] = DEFAULT_MODELS as [ModelSpec, ModelSpec, ModelSpec];

let emulator: Emulator;
let client: OpenAI;

beforeAll(async () => {
  emulator = await createEmulator();
  client = new OpenAI({
    baseURL: `${emulator.url}/v1`,
    apiKey: "ollama",
    maxRetries: 0,
  });
});

afterAll(async () => {
  await emulator.close();
});

const messages = [{ role: "user" as const, content: "Why is the sky blue?" }];

describe("openai SDK against the emulator", () => {
  it("creates a chat completion with usage", async () => {
    const expected = expectedCompletion(LLAMA, "/v1/chat/completions", {
      model: "llama3.2",
      messages,
    });
    const completion = await client.chat.completions.create({
      model: "llama3.2",
      messages,
    });
    expect(completion.object).toBe("chat.completion");
    expect(completion.id).toMatch(/^chatcmpl-\d{1,3}$/);
    expect(completion.model).toBe("llama3.2");
    expect(completion.choices[0]?.message.content).toBe(expected.content);
    expect(completion.choices[0]?.finish_reason).toBe("stop");
    expect(completion.usage).toEqual({
      prompt_tokens: expected.promptEvalCount,
      completion_tokens: expected.evalCount,
      total_tokens: expected.promptEvalCount + expected.evalCount,
    });
  });

  it("streams a chat completion with a usage chunk only when include_usage is set", async () => {
    const expected = expectedCompletion(LLAMA, "/v1/chat/completions", {
      model: "llama3.2",
      messages,
      max_tokens: 7,
    });

    const withUsage = await client.chat.completions.create({
      model: "llama3.2",
      messages,
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of withUsage) chunks.push(chunk);
    const content = chunks
      .map((c) => c.choices[0]?.delta.content ?? "")
      .join("");
    expect(content).toBe(expected.content);
    expect(chunks[0]?.choices[0]?.delta.role).toBe("assistant");
    expect(
      chunks.slice(1).every((c) => c.choices[0]?.delta.role === undefined),
    ).toBe(true);
    const finish = chunks.at(-2);
    expect(finish?.choices[0]).toEqual({
      index: 0,
      delta: {},
      finish_reason: "length",
    });
    const usage = chunks.at(-1);
    expect(usage?.choices).toEqual([]);
    expect(usage?.usage).toEqual({
      prompt_tokens: expected.promptEvalCount,
      completion_tokens: 7,
      total_tokens: expected.promptEvalCount + 7,
    });
    expect(new Set(chunks.map((c) => c.created)).size).toBe(1);

    const without = await client.chat.completions.create({
      model: "llama3.2",
      messages,
      max_tokens: 7,
      stream: true,
    });
    const plain = [];
    for await (const chunk of without) plain.push(chunk);
    expect(plain.some((c) => c.usage !== undefined && c.usage !== null)).toBe(
      false,
    );
    expect(plain.at(-1)?.choices[0]?.finish_reason).toBe("length");
    expect(plain).toHaveLength(chunks.length - 1);
  });

  it("carries reasoning and tool calls for a thinking model", async () => {
    const stream = await client.chat.completions.create({
      model: "qwen3:0.6b",
      messages: [{ role: "user", content: "Weather in Paris?" }],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            parameters: {
              type: "object",
              properties: { city: { type: "string" } },
            },
          },
        },
      ],
      stream: true,
    });
    const deltas = [];
    for await (const chunk of stream) deltas.push(chunk.choices[0]);
    const reasoning = deltas
      .map(
        (d) =>
          (d?.delta as { reasoning?: string } | undefined)?.reasoning ?? "",
      )
      .join("");
    expect(reasoning).toBe(
      expectedCompletion(QWEN, "/v1/chat/completions", {
        model: "qwen3:0.6b",
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [
          {
            type: "function",
            function: {
              name: "get_weather",
              parameters: {
                type: "object",
                properties: { city: { type: "string" } },
              },
            },
          },
        ],
      }).thinking,
    );
    const call = deltas.find((d) => d?.delta.tool_calls !== undefined)?.delta
      .tool_calls?.[0];
    expect(call?.function?.name).toBe("get_weather");
    expect(JSON.parse(call?.function?.arguments ?? "")).toHaveProperty("city");
    expect(deltas.at(-1)?.finish_reason).toBe("tool_calls");

    const whole = await client.chat.completions.create({
      model: "qwen3:0.6b",
      messages: [{ role: "user", content: "hi" }],
      reasoning_effort: "none",
    });
    expect(
      (whole.choices[0]?.message as { reasoning?: string }).reasoning,
    ).toBeUndefined();
  });

  it("creates completions, streamed with the zero-usage quirk", async () => {
    const expected = expectedCompletion(LLAMA, "/v1/completions", {
      model: "llama3.2",
      prompt: "Once upon a time",
    });
    const completion = await client.completions.create({
      model: "llama3.2",
      prompt: "Once upon a time",
    });
    expect(completion.choices[0]?.text).toBe(expected.content);
    expect(completion.usage?.completion_tokens).toBe(expected.evalCount);

    const stream = await client.completions.create({
      model: "llama3.2",
      prompt: "Once upon a time",
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => c.choices[0]?.text ?? "").join("")).toBe(
      expected.content,
    );
    expect(chunks.slice(0, -1).every((c) => c.usage?.total_tokens === 0)).toBe(
      true,
    );
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(expected.evalCount);
    expect(chunks.at(-1)?.usage?.prompt_tokens).toBe(expected.promptEvalCount);
  });

  it("creates embeddings (the SDK asks for base64 by default)", async () => {
    const reply = await client.embeddings.create({
      model: "all-minilm",
      input: ["hello world", "foo"],
    });
    expect(reply.object).toBe("list");
    expect(reply.data).toHaveLength(2);
    expect(reply.data[0]?.embedding).toHaveLength(384);
    expect(reply.usage).toEqual({ prompt_tokens: 4 + 3, total_tokens: 4 + 3 });
    const floats = await client.embeddings.create({
      model: "all-minilm",
      input: "hello world",
      encoding_format: "float",
    });
    const fromBase64 = Array.from(reply.data[0]?.embedding ?? []);
    expect(floats.data[0]?.embedding.map((v) => Math.fround(v))).toEqual(
      fromBase64,
    );
  });

  it("lists and retrieves models", async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(["llama3.2:latest", "qwen3:0.6b", "all-minilm:latest"]);
    const model = await client.models.retrieve("llama3.2");
    expect(model).toMatchObject({
      id: "llama3.2",
      object: "model",
      owned_by: "library",
    });
    await expect(client.models.retrieve("missing")).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it("answers the Responses API, streamed and not", async () => {
    const response = await client.responses.create({
      model: "llama3.2",
      input: "Why is the sky blue?",
    });
    const expected = expectedCompletion(LLAMA, "/v1/responses", {
      model: "llama3.2",
      input: "Why is the sky blue?",
    });
    expect(response.output_text).toBe(expected.content);
    expect(response.usage?.input_tokens).toBe(expected.promptEvalCount);
    expect(response.usage?.output_tokens).toBe(expected.evalCount);

    const stream = await client.responses.create({
      model: "llama3.2",
      input: "Why is the sky blue?",
      stream: true,
    });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
      if (event.type === "response.completed")
        expect(event.response.usage?.total_tokens).toBe(
          expected.promptEvalCount + expected.evalCount,
        );
    }
    expect(text).toBe(expected.content);
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
  });

  it("maps errors to the SDK's error classes", async () => {
    await expect(
      client.chat.completions.create({ model: "missing", messages }),
    ).rejects.toMatchObject({
      status: 404,
      error: { message: "model 'missing' not found", type: "not_found_error" },
    });
    await expect(
      client.chat.completions.create({ model: "llama3.2", messages: [] }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    emulator.setFault({ name: "busy", times: 1 });
    await expect(
      client.chat.completions.create({ model: "llama3.2", messages }),
    ).rejects.toMatchObject({ status: 503 });
    await expect(
      client.chat.completions.create({ model: "llama3.2", messages }),
    ).resolves.toBeDefined();
  });
});
