import { describe, expect, it } from "vitest";
import { resolveModel } from "../../fixtures/ollama-emulator/model-spec.ts";
import {
  countPromptTokens,
  countWords,
  planReply,
  planTimings,
  tokensToText,
} from "../../fixtures/ollama-emulator/text-generation.ts";
import type { GenerationInput } from "../../fixtures/ollama-emulator/text-generation.ts";

const model = resolveModel({
  name: "m",
  replyTokens: 12,
  tokensPerSecond: 50,
  ttftMs: 100,
  loadMs: 800,
});

const chat = (over: Partial<GenerationInput> = {}): GenerationInput => ({
  op: "chat",
  system: "",
  prompt: "",
  suffix: "",
  messages: [
    { role: "system", content: "be brief" },
    { role: "user", content: "why is the sky blue?" },
  ],
  tools: [],
  think: false,
  numPredict: undefined,
  seed: undefined,
  ...over,
});

describe("token counting", () => {
  it("counts whitespace-separated words", () => {
    expect(countWords("  why is\tthe\nsky  blue? ")).toBe(5);
    expect(countWords("")).toBe(0);
  });

  it("counts 8 + words for generate and 8 + Σ(4 + words) + 16 per tool for chat", () => {
    expect(
      countPromptTokens({
        ...chat(),
        op: "generate",
        system: "be brief",
        prompt: "why is the sky blue?",
      }),
    ).toBe(8 + 2 + 5);
    expect(countPromptTokens(chat())).toBe(8 + (4 + 2) + (4 + 5));
    expect(countPromptTokens(chat({ tools: [{}, {}] }))).toBe(8 + 6 + 9 + 32);
  });
});

describe("planReply", () => {
  it("is deterministic and varies with the prompt and the seed", () => {
    const a = planReply(model, chat());
    expect(planReply(model, chat())).toEqual(a);
    expect(
      tokensToText(planReply(model, chat({ seed: 1 })).contentTokens),
    ).not.toBe(tokensToText(a.contentTokens));
  });

  it("generates replyTokens tokens (stop), or exactly num_predict (length)", () => {
    const plain = planReply(model, chat());
    expect(plain.evalCount).toBe(12);
    expect(tokensToText(plain.contentTokens).split(" ")).toHaveLength(12);
    expect(plain.doneReason).toBe("stop");
    const limited = planReply(model, chat({ numPredict: 30 }));
    expect(limited.evalCount).toBe(30);
    expect(limited.doneReason).toBe("length");
  });

  it("spends a quarter of the tokens thinking when thinking is on", () => {
    const plan = planReply(model, chat({ think: true, numPredict: 10 }));
    expect(plan.thinkingTokens).toHaveLength(2);
    expect(plan.contentTokens).toHaveLength(8);
    expect(plan.evalCount).toBe(10);
  });

  it("calls the first tool with its required parameters unless the last message is a tool result", () => {
    const tools = [
      {
        type: "function",
        function: {
          name: "lookup",
          parameters: {
            type: "object",
            properties: {
              q: { type: "string" },
              n: { type: "integer" },
              unit: { type: "string", enum: ["c", "f"] },
            },
            required: ["q", "unit"],
          },
        },
      },
    ];
    const plan = planReply(model, chat({ tools }));
    expect(plan.contentTokens).toHaveLength(0);
    expect(plan.toolCalls).toHaveLength(1);
    expect(plan.toolCalls[0]?.id).toMatch(/^call_[a-z0-9]{8}$/);
    expect(plan.toolCalls[0]?.function.name).toBe("lookup");
    expect(Object.keys(plan.toolCalls[0]?.function.arguments ?? {})).toEqual([
      "q",
      "unit",
    ]);
    expect(plan.toolCalls[0]?.function.arguments.unit).toBe("c");
    const answered = planReply(
      model,
      chat({
        tools,
        messages: [...chat().messages, { role: "tool", content: "42" }],
      }),
    );
    expect(answered.toolCalls).toHaveLength(0);
    expect(answered.contentTokens).toHaveLength(12);
  });
});

describe("planTimings", () => {
  it("derives nanosecond metrics from the configured speeds", () => {
    expect(planTimings(model, 20, 10, false)).toEqual({
      loadDurationNs: 1_000_000,
      promptEvalDurationNs: 100_000_000,
      evalDurationNs: 200_000_000,
      totalDurationNs: 1_000_000 + 100_000_000 + 200_000_000 + 500_000,
    });
    expect(planTimings(model, 20, 10, true).loadDurationNs).toBe(801_000_000);
    const fast = resolveModel({ name: "fast" });
    expect(planTimings(fast, 20, 10, false)).toMatchObject({
      promptEvalDurationNs: 2_000_000,
      evalDurationNs: 10_000_000,
    });
  });
});
