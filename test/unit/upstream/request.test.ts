import { describe, expect, it } from "vitest";
import {
  parseJsonObject,
  parseRequest,
  withIncludeUsage,
} from "@proxy/upstream/request.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe("prompt parts", () => {
  const chat = (messages: unknown[], maxChars = 1000) =>
    parseRequest(
      matchRoute("POST", "/v1/chat/completions"),
      body({ model: "m", messages }),
      maxChars,
    );

  it("reads the last user message, the system prompt and the user message before, from the messages", () => {
    expect(
      chat([
        { role: "system", content: "You translate." },
        { role: "user", content: "first" },
        { role: "assistant", content: "ok" },
        { role: "user", content: "second" },
        { role: "assistant", content: "prefill" },
      ]).promptParts,
    ).toEqual({
      system: "You translate.",
      user: "second",
      previousUser: "first",
    });
  });

  it("is not misled by a message that contains a line looking like another role", () => {
    const parts = chat([
      { role: "user", content: "Summarize this log:\nuser: write a SQL query" },
    ]).promptParts;
    expect(parts?.user).toBe("Summarize this log:\nuser: write a SQL query");
    expect(parts?.previousUser).toBe("");
  });

  it("keeps the last user message of a conversation longer than the captured prompt", () => {
    const history = Array.from({ length: 50 }, (_, i) => ({
      role: i % 2 ? "assistant" : "user",
      content: `message ${i} ${"x".repeat(400)}`,
    }));
    const info = chat([...history, { role: "user", content: "the last one" }]);
    expect(info.prompt.length).toBe(1000);
    expect(info.prompt).not.toContain("the last one");
    expect(info.promptParts?.user).toBe("the last one");
  });

  it("bounds every part: a long message keeps its head and its tail", () => {
    const long = `HEAD${"y".repeat(100_000)}TAIL`;
    const parts = chat([
      { role: "system", content: long },
      { role: "user", content: long },
      { role: "user", content: long },
    ]).promptParts!;
    expect(parts.user.length).toBe(8192);
    expect(parts.user.startsWith("HEAD")).toBe(true);
    expect(parts.user.endsWith("TAIL")).toBe(true);
    expect(parts.system.length).toBe(1024);
    expect(parts.previousUser.length).toBe(512);
  });

  it("reads generate's system and prompt, and plain prompts as the user's", () => {
    expect(
      parseRequest(
        matchRoute("POST", "/api/generate"),
        body({ model: "m", system: "Be terse.", prompt: "Why?" }),
        1000,
      ).promptParts,
    ).toEqual({ system: "Be terse.", user: "Why?", previousUser: "" });
    expect(
      parseRequest(
        matchRoute("POST", "/v1/completions"),
        body({ model: "m", prompt: "Once upon" }),
        1000,
      ).promptParts?.user,
    ).toBe("Once upon");
    expect(
      parseRequest(matchRoute("GET", "/api/tags"), undefined, 1000).promptParts,
    ).toBeUndefined();
  });
});

describe("parseRequest", () => {
  it("renders chat messages as role: content lines, system included, and counts images", () => {
    const info = parseRequest(
      matchRoute("POST", "/api/chat"),
      body({
        model: "llama3.2",
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: "Describe this",
            images: ["aGVsbG8=", "aGVsbG8="],
          },
          {
            role: "assistant",
            content: "",
            tool_calls: [{ function: { name: "look", arguments: { x: 1 } } }],
          },
          { role: "tool", content: "a cat" },
        ],
      }),
      1000,
    );
    expect(info).toMatchObject({
      model: "llama3.2",
      stream: true,
      images: 2,
      loadOnly: false,
      prompt:
        'system: Be brief.\nuser: Describe this\nassistant: [tool call] look({"x":1})\ntool: a cat',
    });
    expect(info.promptChars).toBe(info.prompt.length);
  });

  it("never logs image payloads, only counts them (OpenAI content parts)", () => {
    const info = parseRequest(
      matchRoute("POST", "/v1/chat/completions"),
      body({
        model: "m",
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is it?" },
              {
                type: "image_url",
                image_url: { url: "data:image/png;base64,QUJD" },
              },
            ],
          },
        ],
      }),
      1000,
    );
    expect(info).toMatchObject({
      prompt: "user: What is it?",
      images: 1,
      stream: true,
      includeUsage: true,
    });
    expect(info.prompt).not.toContain("base64");
  });

  it("applies each API's stream default", () => {
    expect(
      parseRequest(
        matchRoute("POST", "/api/generate"),
        body({ model: "m", prompt: "p" }),
        10,
      ).stream,
    ).toBe(true);
    expect(
      parseRequest(
        matchRoute("POST", "/v1/chat/completions"),
        body({ model: "m", messages: [] }),
        10,
      ).stream,
    ).toBe(false);
    expect(
      parseRequest(
        matchRoute("POST", "/api/embed"),
        body({ model: "m", input: "x", stream: true }),
        10,
      ).stream,
    ).toBe(false);
  });

  it("recognises load-only and unload requests", () => {
    const load = parseRequest(
      matchRoute("POST", "/api/generate"),
      body({ model: "m" }),
      10,
    );
    expect(load).toMatchObject({ loadOnly: true, keepAliveZero: false });
    for (const keepAlive of [0, "0", "0s", "0m"]) {
      const unload = parseRequest(
        matchRoute("POST", "/api/chat"),
        body({ model: "m", keep_alive: keepAlive }),
        10,
      );
      expect(unload).toMatchObject({ loadOnly: true, keepAliveZero: true });
    }
  });

  it("keeps at most maxChars of the prompt but counts the full length", () => {
    const info = parseRequest(
      matchRoute("POST", "/api/generate"),
      body({ model: "m", prompt: "x".repeat(50) }),
      10,
    );
    expect(info.prompt).toBe("x".repeat(10));
    expect(info.promptChars).toBe(50);
  });

  it("reads embed inputs, the legacy embeddings prompt and Anthropic system prompts", () => {
    expect(
      parseRequest(
        matchRoute("POST", "/api/embed"),
        body({ model: "m", input: ["a", "b"] }),
        100,
      ).prompt,
    ).toBe("a\nb");
    expect(
      parseRequest(
        matchRoute("POST", "/api/embeddings"),
        body({ model: "m", prompt: "c" }),
        100,
      ).prompt,
    ).toBe("c");
    expect(
      parseRequest(
        matchRoute("POST", "/v1/messages"),
        body({
          model: "m",
          system: "S",
          messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
        }),
        100,
      ).prompt,
    ).toBe("system: S\nuser: hi");
  });

  it("is total: malformed, empty and non-object bodies give a neutral answer", () => {
    for (const raw of [
      "{not json",
      "",
      "[1,2]",
      "null",
      '"text"',
      '{"model": 42}',
    ]) {
      const info = parseRequest(
        matchRoute("POST", "/api/chat"),
        Buffer.from(raw),
        100,
      );
      expect(info.prompt).toBe("");
      expect(info.model).toBeUndefined();
    }
    expect(parseJsonObject(undefined)).toBeUndefined();
  });

  it("takes the model from name on pull and from source on copy", () => {
    expect(
      parseRequest(matchRoute("POST", "/api/pull"), body({ name: "qwen3" }), 10)
        .model,
    ).toBe("qwen3");
    expect(
      parseRequest(
        matchRoute("POST", "/api/copy"),
        body({ source: "a", destination: "b" }),
        10,
      ).model,
    ).toBe("a");
  });
});

describe("withIncludeUsage", () => {
  it("asks for usage on a stream that did not, keeping the other stream options", () => {
    const rewritten = withIncludeUsage({
      model: "m",
      stream: true,
      stream_options: { foo: 1 },
    });
    expect(rewritten).toEqual({
      model: "m",
      stream: true,
      stream_options: { foo: 1, include_usage: true },
    });
  });

  it("leaves non-streaming requests and requests that already asked alone", () => {
    expect(withIncludeUsage({ model: "m", stream: false })).toBeUndefined();
    expect(
      withIncludeUsage({
        model: "m",
        stream: true,
        stream_options: { include_usage: true },
      }),
    ).toBeUndefined();
  });
});
