// What a span says about each route family, read from recorded transcripts: name, GenAI attributes, errors,
// Ollama's phases, and content only when asked (redacted).
import { describe, expect, it } from "vitest";
import { decideOutcome } from "@proxy/exchange/outcome.ts";
import { generationParams } from "@proxy/upstream/generation-params.ts";
import { describeRequest } from "@proxy/upstream/request.ts";
import { createResponseTap } from "@proxy/upstream/response-tap.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";
import {
  ollamaPhases,
  planSpan,
  type SpanOptions,
} from "@proxy/tracing/exchange-span.ts";
import { summary } from "../../fixtures/exchange.ts";
import { transcript } from "../../helpers/transcripts.ts";

const OPTIONS: SpanOptions = {
  latestGenAi: true,
  captureContent: false,
  redact: (text) => text.replaceAll(/\S+@\S+/g, "[email]"),
};

/** The summary of `method path` with `body`, answered by a recorded transcript (a file) or by these bytes. */
function exchange(
  method: string,
  path: string,
  body: Record<string, unknown>,
  file: string | Buffer,
  contentType: string,
  status = 200,
) {
  const route = matchRoute(method, path);
  const tap = createResponseTap({
    route,
    contentType,
    maxPreviewChars: 1000,
    maxJsonBytes: 1 << 20,
    onFirstOutput: () => undefined,
  });
  tap.push(typeof file === "string" ? transcript(file) : file);
  tap.end();
  const result = tap.result();
  const request = describeRequest(route, body, 1000);
  const decided = decideOutcome({
    ending: { kind: "completed" },
    status,
    responseFinished: true,
    streamed: request.stream,
    route,
    tap: result,
  });
  return summary({
    route,
    path,
    method,
    request,
    tap: result,
    status,
    statusLabel: decided.statusLabel,
    outcome: decided.outcome,
    error: decided.error,
    backend: "gpu1",
    serverAddress: "ollama",
    serverPort: 11434,
  });
}

const NDJSON = "application/x-ndjson";
const SSE = "text/event-stream";
const JSON_CT = "application/json";

describe("span plans from transcripts", () => {
  it.each([
    [
      "POST",
      "/api/generate",
      { model: "llama3.2", prompt: "why is the sky blue?" },
      "generate-stream.ndjson",
      NDJSON,
      "text_completion llama3.2",
      "text_completion",
    ],
    [
      "POST",
      "/api/chat",
      { model: "llama3.2", messages: [{ role: "user", content: "hi" }] },
      "chat.json",
      JSON_CT,
      "chat llama3.2",
      "chat",
    ],
    [
      "POST",
      "/v1/chat/completions",
      {
        model: "llama3.2",
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      },
      "chat-completions-current.sse",
      SSE,
      "chat llama3.2",
      "chat",
    ],
    [
      "POST",
      "/api/embed",
      { model: "nomic-embed-text", input: "a" },
      "embed.json",
      JSON_CT,
      "embeddings nomic-embed-text",
      "embeddings",
    ],
    [
      "POST",
      "/v1/embeddings",
      { model: "nomic-embed-text", input: "a" },
      "v1-embeddings.json",
      JSON_CT,
      "embeddings nomic-embed-text",
      "embeddings",
    ],
    [
      "POST",
      "/v1/messages",
      {
        model: "llama3.2",
        max_tokens: 100,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      },
      "messages.sse",
      SSE,
      "chat llama3.2",
      "chat",
    ],
  ])("%s %s → %s", (method, path, body, file, contentType, name, operation) => {
    const plan = planSpan(
      exchange(method, path, body, file, contentType),
      Date.now(),
      OPTIONS,
    );
    expect(plan.name).toBe(name);
    expect(plan.attributes).toMatchObject({
      "gen_ai.provider.name": "ollama",
      "gen_ai.operation.name": operation,
      "gen_ai.request.model": body.model,
      "server.address": "ollama",
      "server.port": 11434,
      "ollama_proxy.backend": "gpu1",
      "url.path": path,
    });
    expect(plan.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
    expect(plan.error).toBeUndefined();
    expect(plan.attributes["gen_ai.input.messages"]).toBeUndefined();
  });

  it("names the finish reason and output tokens of a stream", () => {
    const plan = planSpan(
      exchange(
        "POST",
        "/api/generate",
        { model: "llama3.2", prompt: "x" },
        "generate-stream.ndjson",
        NDJSON,
      ),
      Date.now(),
      OPTIONS,
    );
    expect(plan.attributes).toMatchObject({
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.usage.input_tokens": 26,
      "gen_ai.usage.output_tokens": 259,
    });
  });

  it("marks a stream cut by an error line as failed", () => {
    const plan = planSpan(
      exchange(
        "POST",
        "/api/generate",
        { model: "llama3.2", prompt: "x" },
        "generate-mid-stream-error.ndjson",
        NDJSON,
      ),
      Date.now(),
      OPTIONS,
    );
    expect(plan.attributes["error.type"]).toBe("stream_error");
    expect(plan.error).toBeDefined();
  });

  it("marks an aborted exchange without calling it a server error", () => {
    const plan = planSpan(
      summary({ outcome: "client_aborted", status: undefined }),
      Date.now(),
      OPTIONS,
    );
    expect(plan.attributes["error.type"]).toBe("client_aborted");
    expect(plan.error).toBeUndefined();
  });

  it("names other routes by method and route template", () => {
    const plan = planSpan(
      summary({
        route: matchRoute("GET", "/api/tags"),
        path: "/api/tags",
        method: "GET",
      }),
      Date.now(),
      OPTIONS,
    );
    expect(plan.name).toBe("GET /api/tags");
    expect(plan.attributes["gen_ai.operation.name"]).toBeUndefined();
  });

  it("names no response model when Ollama answered with an error", () => {
    const plan = planSpan(
      exchange(
        "POST",
        "/api/chat",
        { model: "nosuchmodel", messages: [{ role: "user", content: "hi" }] },
        Buffer.from('{"error":"model \'nosuchmodel\' not found"}'),
        JSON_CT,
        404,
      ),
      Date.now(),
      OPTIONS,
    );
    expect(plan.attributes["gen_ai.request.model"]).toBe("nosuchmodel");
    expect(plan.attributes["error.type"]).toBe("404");
    expect(plan.attributes).not.toHaveProperty("gen_ai.response.model");
  });

  it("names no server for a request refused before any backend was chosen", () => {
    const plan = planSpan(
      summary({
        backend: "",
        serverAddress: undefined,
        serverPort: undefined,
        status: 404,
        statusLabel: "404",
        outcome: "rejected",
      }),
      Date.now(),
      OPTIONS,
    );
    expect(plan.attributes["server.address"]).toBeUndefined();
    expect(plan.attributes["ollama_proxy.backend"]).toBeUndefined();
    expect(plan.attributes["error.type"]).toBe("404");
  });

  it("uses gen_ai.system without the opt-in (v1.36 names)", () => {
    const plan = planSpan(summary(), Date.now(), {
      ...OPTIONS,
      latestGenAi: false,
    });
    expect(plan.attributes["gen_ai.system"]).toBe("ollama");
    expect(plan.attributes["gen_ai.provider.name"]).toBeUndefined();
  });
});

describe("content capture", () => {
  const withEmail = summary({
    request: {
      ...summary().request,
      prompt: "user: mail bob@example.org please",
    },
  });

  it("carries redacted messages as attributes under the latest names", () => {
    const plan = planSpan(withEmail, Date.now(), {
      ...OPTIONS,
      captureContent: true,
    });
    const input = String(plan.attributes["gen_ai.input.messages"]);
    expect(input).toContain("[email]");
    expect(input).not.toContain("bob@example.org");
    expect(
      JSON.parse(String(plan.attributes["gen_ai.output.messages"])),
    ).toEqual([
      {
        role: "assistant",
        parts: [{ type: "text", content: "Hello" }],
        finish_reason: "stop",
      },
    ]);
  });

  it("carries them as events under the v1.36 names", () => {
    const plan = planSpan(withEmail, Date.now(), {
      ...OPTIONS,
      latestGenAi: false,
      captureContent: true,
    });
    const prompt = plan.events.find((e) => e.name === "gen_ai.content.prompt");
    expect(prompt?.attributes["gen_ai.prompt"]).toBe(
      "user: mail [email] please",
    );
  });
});

describe("Ollama's phases", () => {
  it("lays queue + load, prompt eval, eval and the rest out back from the end, in order", () => {
    const startedAtMs = 1_000_000;
    const endMs = startedAtMs + 3000;
    const phases = ollamaPhases(
      summary({
        startedAtMs,
        tap: {
          ...summary().tap!,
          usage: {
            totalDurationSeconds: 2.5,
            loadDurationSeconds: 0.5,
            promptEvalDurationSeconds: 0.25,
            evalDurationSeconds: 1.5,
          },
        },
      }),
      endMs,
    );
    expect(phases).toEqual([
      {
        name: "ollama queue + load",
        startMs: endMs - 2500,
        endMs: endMs - 2000,
      },
      {
        name: "ollama prompt_eval",
        startMs: endMs - 2000,
        endMs: endMs - 1750,
      },
      { name: "ollama eval", startMs: endMs - 1750, endMs: endMs - 250 },
      { name: "ollama other", startMs: endMs - 250, endMs },
    ]);
  });

  it("keeps the phases inside an exchange shorter than Ollama's total", () => {
    const startedAtMs = 5_000;
    const phases = ollamaPhases(
      summary({
        startedAtMs,
        tap: {
          ...summary().tap!,
          usage: { totalDurationSeconds: 2, evalDurationSeconds: 2 },
        },
      }),
      startedAtMs + 1000,
    );
    expect(phases).toEqual([
      { name: "ollama eval", startMs: startedAtMs, endMs: startedAtMs + 1000 },
    ]);
  });

  it("has none without Ollama's timings", () => {
    expect(
      ollamaPhases(summary({ tap: { ...summary().tap!, usage: {} } }), 0),
    ).toEqual([]);
  });
});

describe("generation parameters", () => {
  it("reads Ollama's options and the OpenAI/Anthropic top level", () => {
    expect(
      generationParams(matchRoute("POST", "/api/chat"), {
        options: {
          num_predict: 10,
          temperature: 0.5,
          top_p: 0.9,
          seed: 7,
          stop: ["\n"],
        },
      }),
    ).toEqual({
      maxTokens: 10,
      temperature: 0.5,
      topP: 0.9,
      seed: 7,
      stopSequences: ["\n"],
    });
    expect(
      generationParams(matchRoute("POST", "/v1/chat/completions"), {
        max_completion_tokens: 20,
        max_tokens: 99,
        temperature: 1,
        stop: "END",
        presence_penalty: 0.1,
      }),
    ).toEqual({
      maxTokens: 20,
      temperature: 1,
      stopSequences: ["END"],
      presencePenalty: 0.1,
    });
    expect(
      generationParams(matchRoute("POST", "/v1/messages"), {
        max_tokens: 100,
        top_k: 5,
        stop_sequences: ["x", 3],
      }),
    ).toEqual({ maxTokens: 100, topK: 5, stopSequences: ["x"] });
  });

  it("ignores values of the wrong type and bodies without parameters", () => {
    expect(
      generationParams(matchRoute("POST", "/api/generate"), {
        options: { temperature: "hot", num_predict: null },
      }),
    ).toBeUndefined();
    expect(
      generationParams(matchRoute("POST", "/api/generate"), {
        temperature: 0.3,
      }),
    ).toBeUndefined();
  });
});
