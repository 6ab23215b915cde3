// The official ollama-js client (ollama@0.6.4) against the emulator: every call it makes must
// parse, stream and fail exactly as it does against a real Ollama.
import { Ollama } from "ollama";
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
import { waitFor } from "./raw-http.ts";

const SLOW: ModelSpec = {
  name: "slow:latest",
  capabilities: ["completion"],
  tokensPerSecond: 100,
  replyTokens: 500,
};
const MODELS: ModelSpec[] = [...DEFAULT_MODELS, SLOW];
const [LLAMA, QWEN] = DEFAULT_MODELS as [ModelSpec, ModelSpec, ModelSpec];

let emulator: Emulator;
let ollama: Ollama;

beforeAll(async () => {
  emulator = await createEmulator({ models: MODELS });
  ollama = new Ollama({ host: emulator.url });
});

afterAll(async () => {
  await emulator.close();
});

describe("ollama-js against the emulator", () => {
  it("chats without streaming, with exact token counts", async () => {
    const request = {
      model: "llama3.2",
      messages: [{ role: "user", content: "Why is the sky blue?" }],
    };
    const expected = expectedCompletion(LLAMA, "/api/chat", {
      ...request,
      stream: false,
    });
    const reply = await ollama.chat(request);
    expect(reply.model).toBe("llama3.2");
    expect(reply.message).toEqual({
      role: "assistant",
      content: expected.content,
    });
    expect(reply.done).toBe(true);
    expect(reply.done_reason).toBe("stop");
    expect(reply.prompt_eval_count).toBe(expected.promptEvalCount);
    expect(reply.eval_count).toBe(expected.evalCount);
    expect(reply.eval_duration).toBe(expected.evalDurationNs);
    expect(reply.prompt_eval_duration).toBe(expected.promptEvalDurationNs);
  });

  it("streams a chat and ends on the done chunk carrying the metrics", async () => {
    const request = {
      model: "llama3.2:latest",
      messages: [{ role: "user", content: "Tell me a story" }],
    };
    const expected = expectedCompletion(LLAMA, "/api/chat", request);
    const parts = [];
    for await (const part of await ollama.chat({ ...request, stream: true }))
      parts.push(part);
    const last = parts.at(-1);
    expect(parts.map((p) => p.message.content).join("")).toBe(expected.content);
    expect(
      parts.slice(0, -1).every((p) => !p.done && p.eval_count === undefined),
    ).toBe(true);
    expect(last?.done).toBe(true);
    expect(last?.eval_count).toBe(expected.evalCount);
    expect(last?.prompt_eval_count).toBe(expected.promptEvalCount);
    expect(typeof last?.total_duration).toBe("number");
  });

  it("separates thinking from content for a thinking model, and honours num_predict", async () => {
    const request = {
      model: "qwen3:0.6b",
      prompt: "Count to ten",
      options: { num_predict: 20 },
    };
    const expected = expectedCompletion(QWEN, "/api/generate", request);
    let thinking = "";
    let response = "";
    let last;
    for await (const part of await ollama.generate({
      ...request,
      stream: true,
    })) {
      thinking += part.thinking ?? "";
      response += part.response;
      last = part;
    }
    expect(expected.evalCount).toBe(20);
    expect(thinking).toBe(expected.thinking);
    expect(thinking).not.toBe("");
    expect(response).toBe(expected.content);
    expect(last?.done_reason).toBe("length");
    expect(last?.eval_count).toBe(20);
    expect(last?.context?.length).toBe(
      expected.promptEvalCount + expected.evalCount,
    );

    const whole = await ollama.generate({ ...request, think: false });
    expect(whole.thinking).toBeUndefined();
    expect((whole.response ?? "").split(" ")).toHaveLength(20);
  });

  it("returns a deterministic tool call when tools are given", async () => {
    const tools = [
      {
        type: "function",
        function: {
          name: "get_weather",
          description: "Weather for a city",
          parameters: {
            type: "object",
            properties: {
              city: { type: "string" },
              unit: { type: "string", enum: ["celsius", "fahrenheit"] },
            },
            required: ["city", "unit"],
          },
        },
      },
    ];
    const messages = [{ role: "user", content: "Weather in Tokyo?" }];
    const reply = await ollama.chat({
      model: "qwen3:0.6b",
      messages,
      tools,
      think: false,
    });
    const expected = expectedCompletion(QWEN, "/api/chat", {
      model: "qwen3:0.6b",
      messages,
      tools,
      think: false,
      stream: false,
    });
    expect(reply.message.tool_calls).toHaveLength(1);
    const call = reply.message.tool_calls?.[0];
    expect(call?.function.name).toBe("get_weather");
    expect(call?.function.arguments).toEqual(
      expected.toolCalls[0]?.function.arguments,
    );
    expect(call?.function.arguments.unit).toBe("celsius");
    expect(reply.prompt_eval_count).toBe(expected.promptEvalCount);

    // After the tool answered, the model replies with text.
    const followUp = await ollama.chat({
      model: "qwen3:0.6b",
      messages: [
        ...messages,
        reply.message,
        { role: "tool", content: "sunny, 24 degrees" },
      ],
      tools,
      think: false,
    });
    expect(followUp.message.tool_calls).toBeUndefined();
    expect(followUp.message.content).not.toBe("");
  });

  it("embeds with L2-normalised vectors and summed prompt tokens", async () => {
    const reply = await ollama.embed({
      model: "all-minilm",
      input: ["hello world", "the sky is blue"],
    });
    expect(reply.model).toBe("all-minilm");
    expect(reply.embeddings).toHaveLength(2);
    for (const vector of reply.embeddings) {
      expect(vector).toHaveLength(384);
      const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0));
      expect(norm).toBeCloseTo(1, 5);
    }
    expect(reply.prompt_eval_count).toBe(2 + 2 + 4 + 2);
    const again = await ollama.embed({
      model: "all-minilm",
      input: "hello world",
    });
    expect(again.embeddings[0]).toEqual(reply.embeddings[0]);

    const truncated = await ollama.embed({
      model: "all-minilm",
      input: "hello world",
      dimensions: 8,
    });
    expect(truncated.embeddings[0]).toHaveLength(8);

    const legacy = await ollama.embeddings({
      model: "all-minilm",
      prompt: "hello world",
    });
    expect(legacy.embedding).toHaveLength(384);
  });

  it("pulls with progress, then lists, shows, copies and deletes the model", async () => {
    const statuses: string[] = [];
    let sawCompletedOmitted = false;
    for await (const progress of await ollama.pull({
      model: "gemma3:1b",
      stream: true,
    })) {
      statuses.push(progress.status);
      if (progress.total !== undefined && progress.completed === undefined)
        sawCompletedOmitted = true;
    }
    expect(statuses[0]).toBe("pulling manifest");
    expect(statuses.at(-1)).toBe("success");
    expect(statuses).toContain("verifying sha256 digest");
    expect(sawCompletedOmitted).toBe(true);

    const names = (await ollama.list()).models.map((m) => m.name);
    expect(names).toContain("gemma3:1b");

    const show = await ollama.show({ model: "gemma3:1b" });
    expect(show.details.format).toBe("gguf");
    expect(show.model_info).toBeTypeOf("object");

    await expect(
      ollama.copy({ source: "gemma3:1b", destination: "gemma3:copy" }),
    ).resolves.toEqual({ status: "success" });
    await expect(ollama.delete({ model: "gemma3:1b" })).resolves.toEqual({
      status: "success",
    });
    const after = (await ollama.list()).models.map((m) => m.name);
    expect(after).toContain("gemma3:copy");
    expect(after).not.toContain("gemma3:1b");
    expect(emulator.models().map((m) => m.name)).toEqual(after);
  });

  it("reports the models loaded by earlier requests in ps", async () => {
    await ollama.chat({
      model: "llama3.2",
      messages: [{ role: "user", content: "hi" }],
      keep_alive: "10m",
    });
    const ps = await ollama.ps();
    const llama = ps.models.find((m) => m.name === "llama3.2:latest");
    expect(llama).toBeDefined();
    expect(llama?.size_vram).toBeGreaterThan(0);
    const remaining = new Date(llama?.expires_at ?? 0).getTime() - Date.now();
    expect(remaining).toBeGreaterThan(9 * 60_000);
    expect(remaining).toBeLessThanOrEqual(10 * 60_000);
  });

  it("reports the version and shows a model", async () => {
    expect(await ollama.version()).toEqual({ version: "0.33.0" });
    const show = await ollama.show({ model: "qwen3:0.6b" });
    expect(show.capabilities).toEqual(["completion", "tools", "thinking"]);
    expect(show.details.family).toBe("qwen3");
  });

  it("raises ResponseError with the status for a missing model", async () => {
    await expect(
      ollama.chat({
        model: "nope",
        messages: [{ role: "user", content: "hi" }],
      }),
    ).rejects.toMatchObject({
      name: "ResponseError",
      status_code: 404,
      message: "model 'nope' not found",
    });
  });

  it("surfaces a mid-stream error line and a stream without done like a real server", async () => {
    const faulty = new Ollama({
      host: emulator.url,
      headers: {
        "x-emulator-fault": "error-mid-stream; after=2; message=boom",
      },
    });
    const seen: string[] = [];
    const run = async () => {
      for await (const part of await faulty.generate({
        model: "llama3.2",
        prompt: "hi",
        stream: true,
      })) {
        seen.push(part.response ?? "");
      }
    };
    await expect(run()).rejects.toThrow("boom");
    expect(seen).toHaveLength(2);

    const truncated = new Ollama({
      host: emulator.url,
      headers: { "x-emulator-fault": "no-done" },
    });
    const consume = async () => {
      for await (const part of await truncated.chat({
        model: "llama3.2",
        messages: [{ role: "user", content: "x" }],
        stream: true,
      })) {
        void part;
      }
    };
    await expect(consume()).rejects.toThrow(
      "Did not receive done or success response in stream.",
    );
  });

  it("stops the emulator's generation when the client aborts", async () => {
    const before = emulator.stats.abortedGenerations;
    const stream = await ollama.generate({
      model: "slow",
      prompt: "a long story",
      stream: true,
    });
    let count = 0;
    const consume = async () => {
      for await (const part of stream) {
        void part;
        if (++count === 3) stream.abort();
      }
    };
    await expect(consume()).rejects.toThrow();
    await waitFor(() => emulator.stats.abortedGenerations === before + 1);
    expect(emulator.stats.activeGenerations).toBe(0);
  });
});
