import { describe, expect, it } from "vitest";
import { resolveModel } from "../../fixtures/ollama-emulator/model-spec.ts";
import {
  admitRequest,
  expectedCompletion,
  optionsError,
} from "../../fixtures/ollama-emulator/native-handler.ts";
import {
  parseChatRequest,
  parseGenerateRequest,
} from "../../fixtures/ollama-emulator/native-request.ts";
import type { FrontEnd } from "../../fixtures/ollama-emulator/request-fields.ts";

const models = [
  resolveModel({
    name: "llama3.2:latest",
    capabilities: ["completion", "tools"],
  }),
  resolveModel({
    name: "qwen3:0.6b",
    capabilities: ["completion", "thinking"],
  }),
  resolveModel({ name: "all-minilm", kind: "embedding" }),
];
const context = {
  find: (name: string) =>
    models.find((m) => m.name === resolveModel({ name }).name),
  forceNotFound: false,
};

function admit(front: FrontEnd) {
  if (!front.ok) throw new Error(front.reply.body);
  return admitRequest(front.request, context);
}

describe("admitRequest", () => {
  it("follows GenerateHandler's order of checks", () => {
    expect(admit(parseGenerateRequest('{"model":""}'))).toEqual({
      kind: "error",
      status: 404,
      message: "model '' not found",
    });
    expect(admit(parseChatRequest('{"model":""}'))).toEqual({
      kind: "error",
      status: 400,
      message: "model is required",
    });
    expect(
      admit(parseGenerateRequest('{"model":"x","top_logprobs":21}')),
    ).toMatchObject({ status: 400 });
    expect(
      admit(parseGenerateRequest('{"model":"llama3.2","keep_alive":0}')),
    ).toMatchObject({ kind: "unload" });
    expect(admit(parseGenerateRequest('{"model":"llama3.2"}'))).toMatchObject({
      kind: "load",
    });
    expect(
      admit(
        parseGenerateRequest(
          '{"model":"llama3.2","prompt":"x","raw":true,"system":"s"}',
        ),
      ),
    ).toMatchObject({
      message: "raw mode does not support template, system, or context",
    });
    expect(
      admit(
        parseGenerateRequest('{"model":"llama3.2","prompt":"x","suffix":"y"}'),
      ),
    ).toMatchObject({
      message:
        "registry.ollama.ai/library/llama3.2:latest does not support insert",
    });
  });

  it("turns thinking on by default for a thinking model and off on request", () => {
    const on = admit(
      parseChatRequest(
        '{"model":"qwen3:0.6b","messages":[{"role":"User","content":"x"}]}',
      ),
    );
    expect(on).toMatchObject({
      kind: "generate",
      input: { think: true, messages: [{ role: "user", content: "x" }] },
    });
    const off = admit(
      parseChatRequest(
        '{"model":"qwen3:0.6b","think":false,"messages":[{"role":"user","content":"x"}]}',
      ),
    );
    expect(off).toMatchObject({ input: { think: false } });
  });

  it("validates option types like Options.FromMap", () => {
    expect(
      optionsError({
        num_predict: 5,
        temperature: 0.2,
        stop: ["a"],
        unknown: "x",
      }),
    ).toBeUndefined();
    expect(optionsError({ temperature: "hot" })).toBe(
      'option "temperature" must be of type float32',
    );
    expect(optionsError({ stop: "a" })).toBe(
      'option "stop" must be of type array',
    );
  });
});

describe("expectedCompletion", () => {
  it("gives the same counts for a prompt whichever API carries it", () => {
    const spec = { name: "llama3.2:latest" };
    const native = expectedCompletion(spec, "/api/chat", {
      model: "llama3.2",
      messages: [{ role: "user", content: "hi there" }],
    });
    const openai = expectedCompletion(spec, "/v1/chat/completions", {
      model: "llama3.2",
      messages: [{ role: "user", content: "hi there" }],
    });
    const responses = expectedCompletion(spec, "/v1/responses", {
      model: "llama3.2",
      input: "hi there",
    });
    expect(openai).toEqual(native);
    expect(responses).toEqual(native);
    expect(native.promptEvalCount).toBe(8 + 4 + 2);
    expect(native.evalCount).toBe(12);
  });

  it("throws when the emulator would answer with an error", () => {
    expect(() =>
      expectedCompletion({ name: "a:latest" }, "/api/chat", {
        model: "b",
        messages: [{ role: "user", content: "x" }],
      }),
    ).toThrow("model 'b' not found");
  });
});
