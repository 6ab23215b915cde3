import { describe, expect, it } from "vitest";
import {
  buildRecord,
  levelOf,
  serializeRecord,
  type RecordOptions,
} from "@proxy/records/record.ts";
import {
  createRedactor,
  DEFAULT_REDACT_PATTERNS,
} from "@proxy/records/redact.ts";
import { summary, tap } from "../../fixtures/exchange.ts";

const options = (overrides: Partial<RecordOptions> = {}): RecordOptions => ({
  capturePrompts: "truncate",
  captureResponses: "truncate",
  maxChars: 8192,
  maxLineBytes: 250_000,
  redact: createRedactor(DEFAULT_REDACT_PATTERNS),
  categorize: () => "code",
  ...overrides,
});

describe("levelOf", () => {
  it("is info for an answer, warn for the client's side, error for the server's", () => {
    expect(levelOf("ok", 200)).toBe("info");
    expect(levelOf("client_aborted", 200)).toBe("warn");
    expect(levelOf("client_aborted", 499)).toBe("warn");
    expect(levelOf("rejected", 429)).toBe("warn");
    expect(levelOf("upstream_error", 404)).toBe("warn");
    expect(levelOf("upstream_error", 500)).toBe("error");
    expect(levelOf("upstream_error", 502)).toBe("error");
    expect(levelOf("stream_error", 200)).toBe("error");
    expect(levelOf("proxy_error", 502)).toBe("error");
  });
});

describe("buildRecord", () => {
  it("writes the documented fields with numbers as numbers and units in the names", () => {
    const exchange = summary();
    const record = buildRecord(exchange, options());
    expect(record).toEqual({
      time: exchange.startedAtMs,
      request_id: "req-1",
      endpoint: "/api/chat",
      api: "ollama",
      method: "POST",
      model: "llama3.2:latest",
      model_requested: "llama3.2",
      backend: "default",
      stream: true,
      status: 200,
      outcome: "ok",
      level: "info",
      done_reason: "stop",
      duration_ms: 2500,
      ttft_ms: 400,
      prompt_tokens: 12,
      completion_tokens: 40,
      tokens_per_second: 20,
      load_ms: 250,
      eval_ms: 2000,
      request_bytes: 100,
      response_bytes: 900,
      client_ip: "10.0.0.7",
      user_agent: "ollama-js/0.6.4",
      client: "alice",
      category: "code",
      prompt: "user: write a sort in Go",
      prompt_chars: 24,
      prompt_truncated: false,
      response: "Hello",
      response_chars: 5,
      response_truncated: false,
      images: 1,
    });
    expect(Object.values(record).some(Array.isArray)).toBe(false);
  });

  it("categorises from the prompt parts read from the request, not from the rendered text", () => {
    const parts = { user: "write a sort in Go", system: "", previousUser: "" };
    const seen: unknown[] = [];
    buildRecord(
      summary({
        request: { ...summary().request, promptParts: parts },
      }),
      options({
        categorize: (prompt, promptParts) => {
          seen.push(prompt, promptParts);
          return "code";
        },
      }),
    );
    expect(seen).toEqual(["user: write a sort in Go", parts]);
  });

  it("estimates decode speed from the wall clock when Ollama gives no timings (/v1 routes)", () => {
    const record = buildRecord(
      summary({
        tap: tap({ usage: { promptTokens: 3, completionTokens: 21 } }),
        durationSeconds: 2.5,
        ttftSeconds: 0.4,
      }),
      options(),
    );
    expect(record.tokens_per_second).toBe(10);
  });

  it("redacts prompt, response and error on failure paths too", () => {
    const record = buildRecord(
      summary({
        outcome: "upstream_error",
        status: 500,
        error: "bad key sk-abcdefghijklmnopqrstuvwxyz",
        request: {
          ...summary().request,
          prompt: "my mail is bob@example.com",
          promptChars: 26,
        },
        tap: tap({ response: "call 4111-1111-1111-1111", responseChars: 24 }),
      }),
      options(),
    );
    expect(record.prompt).toBe("my mail is [REDACTED:email]");
    expect(record.response).toBe("call [REDACTED:card_number]");
    expect(record.error).toBe("bad key [REDACTED:openai_key]");
  });

  it("honours CAPTURE_* modes", () => {
    const none = buildRecord(
      summary(),
      options({ capturePrompts: "none", captureResponses: "none" }),
    );
    expect(none.prompt).toBeUndefined();
    expect(none.response).toBeUndefined();
    expect(none.prompt_chars).toBe(24);
    expect(none.prompt_truncated).toBe(true);
    const truncated = buildRecord(summary(), options({ maxChars: 4 }));
    expect(truncated.prompt).toBe("user");
    expect(truncated.prompt_truncated).toBe(true);
    expect(truncated.response).toBe("Hell");
  });

  it("marks a prompt that the request parser already cut as truncated", () => {
    const record = buildRecord(
      summary({
        request: { ...summary().request, prompt: "abc", promptChars: 10_000 },
      }),
      options({ capturePrompts: "full" }),
    );
    expect(record.prompt_truncated).toBe(true);
  });
});

describe("serializeRecord", () => {
  it("keeps every record under the Loki line limit, flagging what it cut", () => {
    const huge = "é".repeat(200_000);
    const record = buildRecord(
      summary({
        request: {
          ...summary().request,
          prompt: huge,
          promptChars: huge.length,
        },
        tap: tap({ response: huge, responseChars: huge.length }),
      }),
      options({ capturePrompts: "full", captureResponses: "full" }),
    );
    const line = serializeRecord(record, 100_000);
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(100_000);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed.prompt_truncated).toBe(true);
    expect(parsed.response_truncated).toBe(true);
    expect(parsed.prompt_chars).toBe(200_000);
  });
});
