import { describe, expect, it } from "vitest";
import type { PromptEntry } from "../../../tools/traffic/prompt-set.ts";
import { REQUEST_KINDS, isStreaming } from "../../../tools/traffic/types.ts";
import {
  FAULT_PROBABILITY,
  KIND_WEIGHTS,
  MISSING_MODEL,
  createWorkload,
  type WorkloadInput,
} from "../../../tools/traffic/workload.ts";

const prompts: PromptEntry[] = [
  { category: "code", prompt: "Write a function." },
  { category: "math", prompt: "Solve 2x = 4.", system: "Be brief." },
  {
    category: "conversation",
    prompt: "And then?",
    turns: [
      { role: "user", content: "Hi!" },
      { role: "assistant", content: "Hello!" },
    ],
  },
  { category: "factual", prompt: "Why is the sky blue?" },
];

const input = (overrides: Partial<WorkloadInput> = {}): WorkloadInput => ({
  mode: "demo",
  seed: 42,
  prompts,
  models: {
    chat: ["llama3.2:latest", "qwen3:0.6b"],
    embedding: ["all-minilm:latest"],
  },
  clientHeaders: [
    { name: "X-OpenWebUI-User-Name", values: ["alice", "bob", "chen"] },
  ],
  maxTokens: 64,
  faults: true,
  requests: undefined,
  runId: "run1",
  ...overrides,
});

const plans = (workload: ReturnType<typeof createWorkload>, n: number) =>
  Array.from({ length: n }, (_, i) => workload.plan(i));

describe("createWorkload", () => {
  it("plans the same requests for the same seed", () => {
    expect(plans(createWorkload(input()), 200)).toEqual(
      plans(createWorkload(input()), 200),
    );
  });

  it("plans different requests for another seed", () => {
    const a = plans(createWorkload(input()), 50).map((p) => [
      p.kind,
      p.model,
      p.entry.prompt,
    ]);
    const b = plans(createWorkload(input({ seed: 43 })), 50).map((p) => [
      p.kind,
      p.model,
      p.entry.prompt,
    ]);
    expect(a).not.toEqual(b);
  });

  it("makes each plan a function of (seed, index), whatever order plans are made in", () => {
    const workload = createWorkload(input());
    const forward = plans(workload, 30);
    const backward = Array.from({ length: 30 }, (_, i) =>
      workload.plan(29 - i),
    ).reverse();
    expect(backward).toEqual(forward);
  });

  it("mixes kinds roughly by their weights in demo mode", () => {
    const counts = new Map<string, number>();
    for (const plan of plans(createWorkload(input({ faults: false })), 4000)) {
      counts.set(plan.kind, (counts.get(plan.kind) ?? 0) + 1);
    }
    const total = Object.values(KIND_WEIGHTS).reduce((a, b) => a + b, 0);
    for (const kind of REQUEST_KINDS) {
      const expected = (KIND_WEIGHTS[kind] / total) * 4000;
      expect(counts.get(kind) ?? 0, kind).toBeGreaterThan(expected * 0.8);
      expect(counts.get(kind) ?? 0, kind).toBeLessThan(expected * 1.2);
    }
  });

  it("covers every kind in a quick run, with exactly one of each injected fault", () => {
    const all = plans(
      createWorkload(input({ mode: "quick", requests: 30 })),
      30,
    );
    expect(new Set(all.map((p) => p.kind))).toEqual(new Set(REQUEST_KINDS));
    const faults = all.filter((p) => p.fault !== undefined);
    expect(faults.map((p) => p.fault).sort()).toEqual([
      "abort-stream",
      "unknown-model",
    ]);
    const missing = faults.find((p) => p.fault === "unknown-model");
    expect(missing?.model).toBe(MISSING_MODEL);
    expect(missing?.kind).not.toBe("embed");
    expect(
      isStreaming(
        faults.find((p) => p.fault === "abort-stream")?.kind ?? "chat",
      ),
    ).toBe(true);
  });

  it("injects no fault when faults are off", () => {
    for (const mode of ["quick", "demo", "stress"] as const) {
      const all = plans(
        createWorkload(input({ mode, faults: false, requests: 30 })),
        500,
      );
      expect(
        all.every((p) => p.fault === undefined),
        mode,
      ).toBe(true);
    }
  });

  it("injects faults now and then in demo mode", () => {
    const all = plans(createWorkload(input()), 5000);
    const missing = all.filter((p) => p.fault === "unknown-model").length;
    const aborted = all.filter((p) => p.fault === "abort-stream").length;
    expect(missing).toBeGreaterThan(5000 * FAULT_PROBABILITY * 0.6);
    expect(missing).toBeLessThan(5000 * FAULT_PROBABILITY * 1.4);
    expect(aborted).toBeGreaterThan(5000 * FAULT_PROBABILITY * 0.6);
    expect(aborted).toBeLessThan(5000 * FAULT_PROBABILITY * 1.4);
  });

  it("sends embeddings only to embedding models and the rest only to chat models", () => {
    for (const plan of plans(createWorkload(input({ faults: false })), 500)) {
      if (plan.kind === "embed") {
        expect(plan.model).toBe("all-minilm:latest");
        expect(plan.inputs.length).toBeGreaterThanOrEqual(1);
        expect(plan.inputs.length).toBeLessThanOrEqual(4);
        expect(plan.inputs[0]).toBe(plan.entry.prompt);
      } else {
        expect(["llama3.2:latest", "qwen3:0.6b"]).toContain(plan.model);
        expect(plan.inputs).toEqual([]);
      }
    }
  });

  it("leaves out embeddings without an embedding model, and sends only them without a chat model", () => {
    const chatOnly = createWorkload(
      input({ models: { chat: ["llama3.2"], embedding: [] } }),
    );
    expect(chatOnly.kinds).not.toContain("embed");
    const embedOnly = createWorkload(
      input({ models: { chat: [], embedding: ["all-minilm"] } }),
    );
    expect(embedOnly.kinds).toEqual(["embed"]);
    expect(
      plans(embedOnly, 200).every(
        (p) => p.kind === "embed" && p.fault === undefined,
      ),
    ).toBe(true);
    expect(() =>
      createWorkload(input({ models: { chat: [], embedding: [] } })),
    ).toThrow(/no models/);
  });

  it("uses single-turn prompts for generate, and any prompt for chat", () => {
    const all = plans(createWorkload(input({ faults: false })), 1000);
    const generate = all.filter(
      (p) => p.kind === "generate" || p.kind === "generate-stream",
    );
    expect(generate.length).toBeGreaterThan(0);
    expect(generate.every((p) => p.entry.turns === undefined)).toBe(true);
    expect(
      all.some((p) => p.kind === "chat-stream" && p.entry.turns !== undefined),
    ).toBe(true);
  });

  it("rotates the attribution header through its values and gives each request its own id", () => {
    const all = plans(createWorkload(input()), 300);
    expect(new Set(all.map((p) => p.headers["X-OpenWebUI-User-Name"]))).toEqual(
      new Set(["alice", "bob", "chen"]),
    );
    expect(all[7]?.headers["X-Request-Id"]).toBe("traffic-run1-7");
    expect(new Set(all.map((p) => p.headers["X-Request-Id"])).size).toBe(300);
    expect(all.every((p) => p.maxTokens === 64)).toBe(true);
  });
});
