// Shared shapes of the traffic generator: what one request is, and what came of it.
import type { PromptEntry } from "./prompt-set.ts";

/** The request kinds the generator sends; `-stream` kinds stream their answer. */
export const REQUEST_KINDS = [
  "chat-stream",
  "chat",
  "generate-stream",
  "generate",
  "embed",
  "openai-chat-stream",
  "openai-chat",
] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export const isStreaming = (kind: RequestKind): boolean =>
  kind.endsWith("-stream");

/** A fault injected on purpose, so that error panels have something to show. */
export type Fault = "unknown-model" | "abort-stream";

export interface RequestPlan {
  index: number;
  kind: RequestKind;
  model: string;
  /** The curated prompt (for embed: the first input). */
  entry: PromptEntry;
  /** Embedding inputs (embed only). */
  inputs: string[];
  headers: Record<string, string>;
  maxTokens: number;
  fault: Fault | undefined;
}

export const ERROR_KINDS = [
  "unreachable",
  "timeout",
  "model_not_found",
  "http_4xx",
  "http_5xx",
  "stream_error",
  "aborted",
  "other",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export type RequestResult = {
  index: number;
  /** The X-Request-Id sent, which the proxy echoes and records. */
  requestId: string | undefined;
  kind: RequestKind;
  model: string;
  category: string;
  fault: Fault | undefined;
  /** Start to last byte, as the client saw it. */
  latencyMs: number;
  /** Start to the first content or thinking token; streams only. */
  ttftMs: number | undefined;
  /** Generated tokens as reported by the server (eval_count / usage.completion_tokens). */
  outputTokens: number | undefined;
  /** Prompt tokens as reported by the server. */
  inputTokens: number | undefined;
} & (
  | { outcome: "ok" }
  | { outcome: "error"; error: ErrorKind; message: string }
  /** Cut short by Ctrl-C: neither a success nor an error. */
  | { outcome: "interrupted" }
);
