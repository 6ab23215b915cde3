// What each request is: kind, model, prompt, headers and injected fault, as a pure function of (seed, index).
import type { ClientHeader, Mode } from "./args.ts";
import type { PromptEntry } from "./prompt-set.ts";
import { createRandom } from "./random.ts";
import { REQUEST_KINDS, isStreaming } from "./types.ts";
import type { Fault, RequestKind, RequestPlan } from "./types.ts";

export interface ModelSet {
  chat: string[];
  embedding: string[];
}

/**
 * The share of each kind in the mix: mostly native streaming chat, as from Open WebUI and the CLI, then the
 * OpenAI SDK, generate and embeddings.
 */
export const KIND_WEIGHTS: Readonly<Record<RequestKind, number>> = {
  "chat-stream": 30,
  chat: 10,
  "generate-stream": 15,
  generate: 10,
  embed: 10,
  "openai-chat-stream": 15,
  "openai-chat": 10,
};

/** Per-request probability of each injected fault outside quick mode (quick injects exactly one of each). */
export const FAULT_PROBABILITY = 0.02;

/** The model name used for the unknown-model fault: obviously synthetic when it shows up on a dashboard. */
export const MISSING_MODEL = "traffic-missing-model:latest";

export interface WorkloadInput {
  mode: Mode;
  seed: number;
  prompts: readonly PromptEntry[];
  models: ModelSet;
  clientHeaders: readonly ClientHeader[];
  maxTokens: number;
  faults: boolean;
  /** The planned number of requests, if bounded by count; quick mode spreads its kinds and faults over it. */
  requests: number | undefined;
  /** Prefix of each request's X-Request-Id (`traffic-<runId>-<index>`), which the proxy keeps in its record. */
  runId: string;
}

export interface Workload {
  /** The kinds this workload can send with the models it has. */
  kinds: readonly RequestKind[];
  plan(index: number): RequestPlan;
}

/** Mixes seed and index into an independent 32-bit seed per request (splitmix-style), so plans do not depend on the order they are made in. */
function requestSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export function createWorkload(input: WorkloadInput): Workload {
  const { models, prompts } = input;
  if (prompts.length === 0) throw new Error("the prompt set is empty");
  const kinds = REQUEST_KINDS.filter((kind) =>
    kind === "embed" ? models.embedding.length > 0 : models.chat.length > 0,
  );
  if (kinds.length === 0) throw new Error("no models to send requests to");
  const weights = Object.fromEntries(
    kinds.map((kind) => [kind, KIND_WEIGHTS[kind]]),
  ) as Record<RequestKind, number>;
  // generate has no earlier turns to send, so it uses the single-turn prompts.
  const singleTurn = prompts.filter((entry) => entry.turns === undefined);
  // Quick mode cycles through every kind in a seeded order, so that a 30-request run covers all of them.
  const cycle = createRandom(input.seed).shuffle(kinds);
  const canStream = kinds.some(isStreaming);
  const faultAt = (fraction: number): number | undefined =>
    input.requests !== undefined && input.requests >= 4
      ? Math.floor(input.requests * fraction)
      : undefined;
  const quickFaults: Partial<Record<number, Fault>> = {};
  if (input.mode === "quick" && input.faults && models.chat.length > 0) {
    const missingAt = faultAt(1 / 3);
    const abortAt = faultAt(2 / 3);
    if (missingAt !== undefined) quickFaults[missingAt] = "unknown-model";
    if (abortAt !== undefined && canStream)
      quickFaults[abortAt] = "abort-stream";
  }

  return {
    kinds,
    plan(index: number): RequestPlan {
      const random = createRandom(requestSeed(input.seed, index));
      let kind =
        input.mode === "quick"
          ? (cycle[index % cycle.length] as RequestKind)
          : random.weighted(weights);
      let fault: Fault | undefined;
      if (input.mode === "quick") {
        fault = quickFaults[index];
      } else if (input.faults && models.chat.length > 0) {
        const roll = random.next();
        if (roll < FAULT_PROBABILITY) fault = "unknown-model";
        else if (roll < 2 * FAULT_PROBABILITY && canStream)
          fault = "abort-stream";
      }
      if (fault === "unknown-model" && kind === "embed") kind = "chat";
      if (fault === "abort-stream" && !isStreaming(kind))
        kind = random.next() < 0.5 ? "chat-stream" : "openai-chat-stream";

      const pool =
        kind === "generate" || kind === "generate-stream"
          ? singleTurn
          : prompts;
      const entry = random.pick(pool.length > 0 ? pool : prompts);
      const inputs =
        kind === "embed"
          ? [
              entry.prompt,
              ...Array.from(
                { length: random.int(4) },
                () => random.pick(prompts).prompt,
              ),
            ]
          : [];
      const model =
        fault === "unknown-model"
          ? MISSING_MODEL
          : random.pick(kind === "embed" ? models.embedding : models.chat);
      const headers: Record<string, string> = {
        "X-Request-Id": `traffic-${input.runId}-${index}`,
      };
      for (const header of input.clientHeaders)
        headers[header.name] = random.pick(header.values);
      return {
        index,
        kind,
        model,
        entry,
        inputs,
        headers,
        maxTokens: input.maxTokens,
        fault,
      };
    },
  };
}
