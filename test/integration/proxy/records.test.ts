// One analytics record per request, whatever happened to it (here without Loki: records go to stdout).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../helpers/wait-for.ts";
import { startHarness, type Harness } from "./harness.ts";

async function call(
  harness: Harness,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${harness.proxy.url}${path}`, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers,
  });
  const text = await response.text();
  return {
    id: response.headers.get("x-request-id")!,
    text,
    status: response.status,
  };
}

describe("analytics records", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      env: { CLIENT_HEADER: "X-OpenWebUI-User-Name" },
      emulator: {
        models: [
          { name: "llama3.2:latest" },
          { name: "all-minilm:latest", kind: "embedding" },
          { name: "slow:latest", tokensPerSecond: 10, replyTokens: 100 },
        ],
      },
    });
  });
  afterAll(() => harness.close());

  it("writes one record for a streamed chat with the counts Ollama reported", async () => {
    const { id, text } = await call(
      harness,
      "/api/chat",
      {
        model: "llama3.2",
        messages: [
          { role: "system", content: "You are terse." },
          {
            role: "user",
            content: "My email is ann@example.com, what is 2+2?",
          },
        ],
      },
      { "X-OpenWebUI-User-Name": "ann", "User-Agent": "records-test/1.0" },
    );
    const final = JSON.parse(text.trim().split("\n").at(-1)!) as Record<
      string,
      number
    >;
    const record = await harness.proxy.recordFor(id);
    expect(record).toMatchObject({
      request_id: id,
      endpoint: "/api/chat",
      api: "ollama",
      method: "POST",
      model: "llama3.2:latest",
      model_requested: "llama3.2",
      stream: true,
      status: 200,
      outcome: "ok",
      level: "info",
      done_reason: "stop",
      prompt_tokens: final.prompt_eval_count,
      completion_tokens: final.eval_count,
      client: "ann",
      user_agent: "records-test/1.0",
      client_ip: "127.0.0.1",
      prompt:
        "system: You are terse.\nuser: My email is [REDACTED:email], what is 2+2?",
      images: 0,
    });
    expect(record.ttft_ms).toEqual(expect.any(Number));
    expect(record.tokens_per_second).toEqual(expect.any(Number));
    expect(typeof record.response).toBe("string");
    expect((record.response as string).length).toBeGreaterThan(0);
  });

  it("writes records for failures, malformed bodies and embeddings too", async () => {
    const failures = [
      await call(
        harness,
        "/api/generate",
        { model: "llama3.2", prompt: "x" },
        { "x-emulator-fault": "error-mid-stream" },
      ),
      await call(harness, "/api/generate", { model: "ghost", prompt: "x" }),
      await call(harness, "/api/chat", "{broken"),
      await call(harness, "/api/embed", {
        model: "all-minilm",
        input: "vectors please",
      }),
      await call(harness, "/v1/chat/completions", {
        model: "llama3.2",
        messages: [{ role: "user", content: "hi" }],
      }),
    ];
    const records = await Promise.all(
      failures.map((f) => harness.proxy.recordFor(f.id)),
    );
    expect(records.map((r) => [r.outcome, r.status, r.level])).toEqual([
      ["stream_error", 200, "error"],
      ["upstream_error", 404, "warn"],
      ["upstream_error", 400, "warn"],
      ["ok", 200, "info"],
      ["ok", 200, "info"],
    ]);
    expect(records[0]!.error).toBe(
      "an error was encountered while running the model",
    );
    expect(records[1]!.error).toContain("not found");
    expect(records[3]!.prompt_tokens).toBeGreaterThan(0);
    expect(records[4]!.api).toBe("openai");
  });

  it("writes a client_aborted record when the client leaves mid-stream", async () => {
    const controller = new AbortController();
    const response = await fetch(`${harness.proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "slow", prompt: "long" }),
      signal: controller.signal,
    });
    const id = response.headers.get("x-request-id")!;
    await response.body!.getReader().read();
    controller.abort();
    const record = await harness.proxy.recordFor(id);
    expect(record.outcome).toBe("client_aborted");
  });

  it("writes exactly one record per request", async () => {
    const ids = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        call(harness, "/api/generate", {
          model: "llama3.2",
          prompt: `p${i}`,
          stream: i % 2 === 0,
        }),
      ),
    );
    await waitFor(() =>
      ids.every((r) =>
        harness.proxy.records().some((rec) => rec.request_id === r.id),
      ),
    );
    for (const { id } of ids) {
      expect(
        harness.proxy.records().filter((rec) => rec.request_id === id),
      ).toHaveLength(1);
    }
  });
});

describe("capture modes", () => {
  it("keeps the whole response with CAPTURE_RESPONSES=full while prompts stay truncated", async () => {
    const harness = await startHarness({
      env: {
        CAPTURE_PROMPTS: "truncate",
        CAPTURE_RESPONSES: "full",
        CAPTURE_MAX_CHARS: "10",
      },
      emulator: { models: [{ name: "llama3.2:latest", replyTokens: 40 }] },
    });
    try {
      const { id } = await call(harness, "/api/generate", {
        model: "llama3.2",
        prompt: "a prompt that is longer than ten characters",
        stream: false,
      });
      const record = await harness.proxy.recordFor(id);
      expect(record.prompt).toHaveLength(10);
      expect(record.prompt_truncated).toBe(true);
      expect((record.response as string).length).toBe(record.response_chars);
      expect(record.response_chars).toBeGreaterThan(10);
      expect(record.response_truncated).toBe(false);
    } finally {
      await harness.close();
    }
  });
});
