import { describe, expect, it } from "vitest";
import {
  createResponseTap,
  type TapResult,
} from "@proxy/upstream/response-tap.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";
import {
  oneBytePerChunk,
  splitsInTwo,
  transcript,
} from "../../helpers/transcripts.ts";

interface Case {
  file: string;
  route: [string, string];
  contentType: string;
  expected: Partial<TapResult>;
  firstOutput: boolean;
}

const NDJSON = "application/x-ndjson";
const SSE = "text/event-stream";
const JSON_CT = "application/json; charset=utf-8";

const cases: Case[] = [
  {
    file: "generate-stream.ndjson",
    route: ["POST", "/api/generate"],
    contentType: NDJSON,
    firstOutput: true,
    expected: {
      response: "The sky <is> blü 世界 🌍",
      done: true,
      doneReason: "stop",
      error: undefined,
      usage: {
        promptTokens: 26,
        completionTokens: 259,
        totalDurationSeconds: 1.402113,
        loadDurationSeconds: 0.021004,
        promptEvalDurationSeconds: 0.130079,
        evalDurationSeconds: 1.23271,
      },
    },
  },
  {
    file: "chat-stream-thinking-tools.ndjson",
    route: ["POST", "/api/chat"],
    contentType: NDJSON,
    firstOutput: true,
    expected: {
      response:
        '[thinking] User wants weather\n[/thinking]\nChecking.\n[tool call] get_weather({"city":"Tokyo"})',
      done: true,
      doneReason: "stop",
      usage: {
        promptTokens: 169,
        completionTokens: 18,
        totalDurationSeconds: 3.244883583,
        loadDurationSeconds: 2.969184542,
        promptEvalDurationSeconds: 0.141656333,
        evalDurationSeconds: 0.133293625,
      },
    },
  },
  {
    file: "generate-mid-stream-error.ndjson",
    route: ["POST", "/api/generate"],
    contentType: NDJSON,
    firstOutput: true,
    expected: {
      response: "Ican",
      done: false,
      error: "an error was encountered while running the model",
      usage: {},
    },
  },
  {
    file: "chat-stream-no-done.ndjson",
    route: ["POST", "/api/chat"],
    contentType: NDJSON,
    firstOutput: true,
    expected: {
      response: "Half an answer",
      done: false,
      error: undefined,
      usage: {},
    },
  },
  {
    file: "chat-completions-current.sse",
    route: ["POST", "/v1/chat/completions"],
    contentType: SSE,
    firstOutput: true,
    expected: {
      response: "Hello ñ 世界",
      done: true,
      doneReason: "stop",
      usage: { promptTokens: 26, completionTokens: 5 },
    },
  },
  {
    file: "chat-completions-legacy.sse",
    route: ["POST", "/v1/chat/completions"],
    contentType: SSE,
    firstOutput: true,
    expected: {
      response: "Hi there",
      done: true,
      doneReason: "stop",
      usage: { promptTokens: 12, completionTokens: 2 },
    },
  },
  {
    file: "completions-include-usage.sse",
    route: ["POST", "/v1/completions"],
    contentType: SSE,
    firstOutput: true,
    // The zero usage on every chunk must not win over the final real one (reference §7.5).
    expected: {
      response: "Once upon",
      done: true,
      usage: { promptTokens: 5, completionTokens: 40 },
    },
  },
  {
    file: "chat-completions-swallowed-error.sse",
    route: ["POST", "/v1/chat/completions"],
    contentType: SSE,
    firstOutput: true,
    expected: { response: "Par", done: false, usage: {} },
  },
  {
    file: "responses.sse",
    route: ["POST", "/v1/responses"],
    contentType: SSE,
    firstOutput: true,
    expected: {
      response: "Hello world",
      done: true,
      usage: { promptTokens: 11, completionTokens: 2 },
    },
  },
  {
    file: "messages.sse",
    route: ["POST", "/v1/messages"],
    contentType: SSE,
    firstOutput: true,
    expected: {
      response: "Bonjour",
      done: true,
      doneReason: "end_turn",
      usage: { promptTokens: 10, completionTokens: 3 },
    },
  },
  {
    file: "embed.json",
    route: ["POST", "/api/embed"],
    contentType: JSON_CT,
    firstOutput: false,
    expected: {
      done: true,
      usage: {
        promptTokens: 8,
        totalDurationSeconds: 0.014143917,
        loadDurationSeconds: 0.0010195,
      },
    },
  },
  {
    file: "v1-embeddings.json",
    route: ["POST", "/v1/embeddings"],
    contentType: "application/json",
    firstOutput: false,
    expected: { done: true, usage: { promptTokens: 8 } },
  },
  {
    file: "chat.json",
    route: ["POST", "/api/chat"],
    contentType: JSON_CT,
    firstOutput: true,
    expected: { response: "Hello!", done: true, doneReason: "stop" },
  },
  {
    file: "chat-completion.json",
    route: ["POST", "/v1/chat/completions"],
    contentType: "application/json",
    firstOutput: true,
    expected: {
      response: "[thinking] think\n[/thinking]\nHello!",
      done: true,
      usage: { promptTokens: 26, completionTokens: 5 },
    },
  },
  {
    file: "generate-load.json",
    route: ["POST", "/api/generate"],
    contentType: JSON_CT,
    firstOutput: false,
    expected: { response: "", done: true, doneReason: "load", usage: {} },
  },
];

function run(
  c: Case,
  chunks: Buffer[],
): { result: TapResult; firstOutputs: number } {
  let firstOutputs = 0;
  const tap = createResponseTap({
    route: matchRoute(...c.route),
    contentType: c.contentType,
    maxPreviewChars: 10_000,
    maxJsonBytes: 1 << 20,
    onFirstOutput: () => firstOutputs++,
  });
  for (const chunk of chunks) tap.push(chunk);
  tap.end();
  return { result: tap.result(), firstOutputs };
}

describe.each(cases)("tap over $file", (c) => {
  const bytes = transcript(c.file);

  it("extracts text, usage, done reason and errors from the whole body", () => {
    const { result, firstOutputs } = run(c, [bytes]);
    expect(result).toMatchObject(c.expected);
    expect(result.parseErrors).toBe(0);
    expect(firstOutputs).toBe(c.firstOutput ? 1 : 0);
  });

  it("gives the same result wherever the bytes are cut, even inside a UTF-8 character", () => {
    const whole = run(c, [bytes]).result;
    for (const chunks of splitsInTwo(bytes)) {
      expect(run(c, chunks).result).toEqual(whole);
    }
    expect(run(c, oneBytePerChunk(bytes)).result).toEqual(whole);
  });
});

describe("tap robustness", () => {
  const route = matchRoute("POST", "/api/generate");

  it("counts an unparsable line as a parse error and keeps going", () => {
    const tap = createResponseTap({
      route,
      contentType: "application/x-ndjson",
      maxPreviewChars: 100,
      maxJsonBytes: 1 << 20,
      onFirstOutput: () => undefined,
    });
    tap.push(
      Buffer.from(
        '{"response":"a","done":false}\nnot json\n{"response":"b","done":true,"eval_count":2}\n',
      ),
    );
    tap.end();
    const result = tap.result();
    expect(result.parseErrors).toBe(1);
    expect(result.response).toBe("ab");
    expect(result.usage.completionTokens).toBe(2);
  });

  it("caps the response preview but counts every character", () => {
    const tap = createResponseTap({
      route,
      contentType: "application/x-ndjson",
      maxPreviewChars: 5,
      maxJsonBytes: 1 << 20,
      onFirstOutput: () => undefined,
    });
    tap.push(
      Buffer.from(
        '{"response":"abcdefgh","done":false}\n{"response":"ij","done":true}\n',
      ),
    );
    tap.end();
    expect(tap.result()).toMatchObject({
      response: "abcde",
      responseChars: 10,
      done: true,
    });
  });

  it("reads counts from the tail of a JSON body too large to parse whole", () => {
    const vectors = Array.from(
      { length: 5000 },
      (_, i) => `[${i / 7},${i / 9}]`,
    ).join(",");
    const body = Buffer.from(
      `{"model":"m","embeddings":[${vectors}],"total_duration":2000000000,"load_duration":5,"prompt_eval_count":4321}`,
    );
    const tap = createResponseTap({
      route: matchRoute("POST", "/api/embed"),
      contentType: "application/json; charset=utf-8",
      maxPreviewChars: 100,
      maxJsonBytes: 1024,
      onFirstOutput: () => undefined,
    });
    for (let i = 0; i < body.length; i += 777)
      tap.push(body.subarray(i, i + 777));
    tap.end();
    expect(tap.result().usage).toMatchObject({
      promptTokens: 4321,
      totalDurationSeconds: 2,
    });
  });
});

describe("stripping the usage frames the proxy asked for", () => {
  function strip(path: string, chunks: Buffer[]): string {
    const tap = createResponseTap({
      route: matchRoute("POST", path),
      contentType: "text/event-stream",
      maxPreviewChars: 1000,
      maxJsonBytes: 1 << 20,
      onFirstOutput: () => undefined,
    });
    const out = chunks.map((chunk) => tap.pushAndStrip(chunk));
    const rest = tap.end();
    expect(tap.result().usage.completionTokens).toBeGreaterThan(0);
    return Buffer.concat(rest ? [...out, rest] : out).toString("utf8");
  }

  it("removes the usage-only chunk of /v1/chat/completions and keeps every other byte", () => {
    const bytes = transcript("chat-completions-current.sse");
    const original = bytes.toString("utf8");
    const expected = original.replace(
      /data: \{[^\n]*"choices":\[\],"usage"[^\n]*\n\n/,
      "",
    );
    expect(expected).not.toBe(original);
    expect(strip("/v1/chat/completions", [bytes])).toBe(expected);
    for (const chunks of splitsInTwo(bytes))
      expect(strip("/v1/chat/completions", chunks)).toBe(expected);
  });

  it("removes the zero usage from every /v1/completions chunk and the final usage chunk", () => {
    const bytes = transcript("completions-include-usage.sse");
    const result = strip("/v1/completions", [bytes]);
    expect(result).not.toContain("usage");
    expect(result).toContain(
      '"choices":[{"text":"Once","index":0,"finish_reason":null}],"model":"llama3.2"',
    );
    expect(result.endsWith("data: [DONE]\n\n")).toBe(true);
    for (const chunks of splitsInTwo(bytes))
      expect(strip("/v1/completions", chunks)).toBe(result);
  });
});
