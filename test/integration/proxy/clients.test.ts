// The official clients work through the proxy and get what they get directly: ollama-js and the openai SDK.
import { Ollama } from "ollama";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "./harness.ts";

describe("official clients through the proxy", () => {
  let harness: Harness;
  let direct: Ollama;
  let proxied: Ollama;
  let directAi: OpenAI;
  let proxiedAi: OpenAI;

  beforeAll(async () => {
    harness = await startHarness();
    direct = new Ollama({ host: harness.emulator.url });
    proxied = new Ollama({ host: harness.proxy.url });
    directAi = new OpenAI({
      baseURL: `${harness.emulator.url}/v1`,
      apiKey: "ollama",
    });
    proxiedAi = new OpenAI({
      baseURL: `${harness.proxy.url}/v1`,
      apiKey: "ollama",
    });
    await direct.generate({ model: "llama3.2", prompt: "warm up" });
  });
  afterAll(() => harness.close());

  it("ollama-js chat and generate, streaming and not", async () => {
    const messages = [{ role: "user", content: "Tell me about lighthouses" }];
    const a = await direct.chat({ model: "llama3.2", messages });
    const b = await proxied.chat({ model: "llama3.2", messages });
    expect(b.message).toEqual(a.message);
    expect(b.eval_count).toBe(a.eval_count);

    let streamed = "";
    for await (const part of await proxied.chat({
      model: "llama3.2",
      messages,
      stream: true,
    })) {
      streamed += part.message.content;
    }
    expect(streamed).toBe(a.message.content);

    const g = await proxied.generate({
      model: "llama3.2",
      prompt: "Haiku about rust",
    });
    const h = await direct.generate({
      model: "llama3.2",
      prompt: "Haiku about rust",
    });
    expect(g.response).toBe(h.response);
  });

  it("ollama-js embed, list, show and errors", async () => {
    const a = await direct.embed({
      model: "all-minilm",
      input: ["one", "two"],
    });
    const b = await proxied.embed({
      model: "all-minilm",
      input: ["one", "two"],
    });
    expect(b.embeddings).toEqual(a.embeddings);
    expect((await proxied.list()).models.map((m) => m.name)).toEqual(
      (await direct.list()).models.map((m) => m.name),
    );
    expect((await proxied.show({ model: "llama3.2" })).details).toEqual(
      (await direct.show({ model: "llama3.2" })).details,
    );
    await expect(
      proxied.chat({
        model: "missing-model",
        messages: [{ role: "user", content: "x" }],
      }),
    ).rejects.toThrow(/not found/);
  });

  it("openai SDK chat completions, streaming with and without usage, completions and embeddings", async () => {
    const request = {
      model: "llama3.2",
      messages: [{ role: "user" as const, content: "Name three rivers" }],
    };
    const a = await directAi.chat.completions.create(request);
    const b = await proxiedAi.chat.completions.create(request);
    expect(b.choices[0]?.message.content).toBe(a.choices[0]?.message.content);
    expect(b.usage).toEqual(a.usage);

    // Without include_usage the client must see no usage chunk even though the proxy asked Ollama for one.
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of await proxiedAi.chat.completions.create({
      ...request,
      stream: true,
    }))
      chunks.push(chunk);
    expect(chunks.some((chunk) => chunk.usage)).toBe(false);
    expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(
      a.choices[0]?.message.content,
    );

    const withUsage: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of await proxiedAi.chat.completions.create({
      ...request,
      stream: true,
      stream_options: { include_usage: true },
    })) {
      withUsage.push(chunk);
    }
    expect(withUsage.at(-1)?.usage).toEqual(a.usage);

    const completion = await proxiedAi.completions.create({
      model: "llama3.2",
      prompt: "Once upon",
    });
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
    const embedding = await proxiedAi.embeddings.create({
      model: "all-minilm",
      input: "hello",
    });
    expect(embedding.data[0]?.embedding.length).toBeGreaterThan(0);
    await expect(
      proxiedAi.chat.completions.create({
        model: "missing",
        messages: [{ role: "user", content: "x" }],
      }),
    ).rejects.toMatchObject({ status: 404 });
  });
});
