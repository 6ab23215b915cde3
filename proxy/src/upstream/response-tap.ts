// Observes a response's bytes as they pass and folds them into a TapResult. It never delays, alters or holds
// the client's bytes (except in `strip` mode, where it removes the usage frames the proxy itself asked for).
// Keeps only the unfinished tail, a capped response preview and the latest usage; a throw inside parsing is
// caught and counted, never propagated into the client's stream.
import { createByteLineSplitter, type LineSplitter } from "./ndjson.ts";
import { parseOllamaObject, parseOllamaTokenLine } from "./ollama.ts";
import {
  isUsageOnlyChunk,
  parseOpenAiBody,
  parseOpenAiStreamEvent,
  stripZeroUsage,
} from "./openai.ts";
import { createSseSplitter, type SseEvent, type SseSplitter } from "./sse.ts";
import type { ResponseEvent, Route, Usage } from "./types.ts";

export type Framing = "ndjson" | "sse" | "json" | "none";

export interface TapResult {
  readonly framing: Framing;
  /** The response preview: thinking and tool calls marked, at most maxPreviewChars characters. */
  readonly response: string;
  /** Full length of the rendered response (content + marked thinking and tool calls). */
  readonly responseChars: number;
  readonly usage: Usage;
  readonly doneReason: string | undefined;
  /** The body reached its protocol-level end (done:true, [DONE], response.completed…). */
  readonly done: boolean;
  readonly error: string | undefined;
  readonly model: string | undefined;
  /** Units that could not be parsed, or a tail that overflowed; the client still got every byte. */
  readonly parseErrors: number;
}

export interface TapOptions {
  readonly route: Route;
  readonly contentType: string | undefined;
  readonly maxPreviewChars: number;
  /** Non-streamed JSON bodies up to this size are parsed whole; larger ones only from their tail. */
  readonly maxJsonBytes: number;
  readonly onFirstOutput: () => void;
}

export interface ResponseTap {
  push(chunk: Buffer): void;
  /** strip mode (SSE only): observes the chunk and returns the bytes the client should get. */
  pushAndStrip(chunk: Buffer): Buffer;
  end(): Buffer | undefined;
  result(): TapResult;
}

const THINKING_OPEN = "[thinking] ";
const THINKING_CLOSE = "\n[/thinking]\n";

export function framingOf(contentType: string | undefined): Framing {
  if (!contentType) return "none";
  if (contentType.includes("ndjson")) return "ndjson";
  if (contentType.includes("event-stream")) return "sse";
  if (contentType.includes("json")) return "json";
  return "none";
}

/** A capped text accumulator that still counts the full length. */
class Preview {
  private readonly parts: string[] = [];
  private kept = 0;
  chars = 0;
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  add(text: string): void {
    this.chars += text.length;
    if (this.kept >= this.max) return;
    const piece =
      text.length <= this.max - this.kept
        ? text
        : text.slice(0, this.max - this.kept);
    this.parts.push(piece);
    this.kept += piece.length;
  }
  text(): string {
    return this.parts.join("");
  }
}

// Numbers a JSON body carries at its end, for bodies too large to parse whole (large embedding batches).
const TAIL_FIELDS: ReadonlyArray<[RegExp, keyof Usage, number]> = [
  [/"prompt_eval_count":(\d+)/, "promptTokens", 1],
  [/"eval_count":(\d+)/, "completionTokens", 1],
  [/"total_duration":(\d+)/, "totalDurationSeconds", 1e-9],
  [/"load_duration":(\d+)/, "loadDurationSeconds", 1e-9],
  [/"prompt_eval_duration":(\d+)/, "promptEvalDurationSeconds", 1e-9],
  [/"eval_duration":(\d+)/, "evalDurationSeconds", 1e-9],
  [/"prompt_tokens":(\d+)/, "promptTokens", 1],
  [/"completion_tokens":(\d+)/, "completionTokens", 1],
];

function usageFromTail(tail: string): Usage {
  const usage: Usage = {};
  for (const [pattern, key, scale] of TAIL_FIELDS) {
    const match = pattern.exec(tail);
    if (match?.[1] !== undefined) usage[key] = Number(match[1]) * scale;
  }
  return usage;
}

export function createResponseTap(options: TapOptions): ResponseTap {
  const { route } = options;
  const framing = framingOf(options.contentType);
  const content = new Preview(options.maxPreviewChars);
  const thinking = new Preview(options.maxPreviewChars);
  const toolCalls = new Preview(options.maxPreviewChars);
  let usage: Usage = {};
  let doneReason: string | undefined;
  let done = false;
  let error: string | undefined;
  let model: string | undefined;
  let parseErrors = 0;
  let sawOutput = false;

  const apply = (event: ResponseEvent) => {
    if (event.text) content.add(event.text);
    if (event.thinking) thinking.add(event.thinking);
    if (event.toolCalls)
      for (const call of event.toolCalls)
        toolCalls.add(`[tool call] ${call}\n`);
    // Later usage overrides earlier field by field: /v1/completions sends zeros before the real counts.
    if (event.usage) usage = { ...usage, ...event.usage };
    if (event.doneReason !== undefined) doneReason = event.doneReason;
    if (event.done) done = true;
    if (event.error !== undefined && error === undefined) error = event.error;
    if (event.model !== undefined && model === undefined) model = event.model;
    if (event.hasOutput && !sawOutput) {
      sawOutput = true;
      options.onFirstOutput();
    }
  };

  const parseJson = (text: string): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(text);
      if (
        typeof value === "object" &&
        value !== null &&
        !Array.isArray(value)
      ) {
        return value as Record<string, unknown>;
      }
    } catch {
      // counted below
    }
    parseErrors++;
    return undefined;
  };

  const guarded = (fn: () => void) => {
    try {
      fn();
    } catch {
      parseErrors++;
    }
  };

  let lines: LineSplitter | undefined;
  let events: SseSplitter | undefined;
  // strip mode collects what to forward for the current chunk
  let stripping = false;
  let forward: Buffer[] = [];

  const onSseEvent = (event: SseEvent) => {
    let obj: Record<string, unknown> | undefined;
    if (event.data !== "" && event.data !== "[DONE]")
      obj = parseJson(event.data);
    guarded(() =>
      apply(parseOpenAiStreamEvent(route.op, event.event, event.data, obj)),
    );
    if (!stripping) return;
    if (isUsageOnlyChunk(obj)) return; // the frame the proxy asked for
    const stripped =
      obj?.usage !== undefined
        ? stripZeroUsage(event.raw.toString("utf8"))
        : undefined;
    forward.push(
      stripped === undefined ? event.raw : Buffer.from(stripped, "utf8"),
    );
  };

  if (framing === "ndjson") {
    lines = createByteLineSplitter((bytes, start, end) => {
      // Token lines are read from their bytes (once the model is known, not even decoded); anything else is
      // decoded, trimmed and parsed in full.
      const token = parseOllamaTokenLine(
        route.op,
        bytes,
        start,
        end,
        model === undefined,
      );
      if (token) {
        try {
          apply(token);
        } catch {
          parseErrors++;
        }
        return;
      }
      const line = bytes.toString("utf8", start, end).trim();
      if (line === "") return;
      const obj = parseJson(line);
      if (obj) guarded(() => apply(parseOllamaObject(route.op, obj)));
    });
  } else if (framing === "sse") {
    events = createSseSplitter(onSseEvent);
  }

  // Whole-body JSON: keep bytes up to the cap, then only a tail window.
  const jsonChunks: Buffer[] = [];
  let jsonBytes = 0;
  let jsonTail = "";

  const pushJson = (chunk: Buffer) => {
    jsonBytes += chunk.length;
    if (jsonBytes <= options.maxJsonBytes) {
      jsonChunks.push(chunk);
      return;
    }
    if (jsonChunks.length > 0) jsonChunks.length = 0;
    jsonTail = (jsonTail + chunk.toString("latin1")).slice(-4096);
  };

  const endJson = () => {
    if (jsonBytes === 0) return;
    if (jsonBytes > options.maxJsonBytes) {
      usage = { ...usage, ...usageFromTail(jsonTail) };
      done = true;
      return;
    }
    const obj = parseJson(Buffer.concat(jsonChunks).toString("utf8"));
    jsonChunks.length = 0;
    if (!obj) return;
    guarded(() =>
      apply(
        route.api === "ollama"
          ? parseOllamaObject(route.op, obj)
          : parseOpenAiBody(route.op, obj),
      ),
    );
  };

  return {
    push(chunk) {
      try {
        if (lines) lines.push(chunk);
        else if (events) events.push(chunk);
        else if (framing === "json") pushJson(chunk);
      } catch {
        parseErrors++;
      }
    },
    pushAndStrip(chunk) {
      if (!events) return chunk;
      stripping = true;
      forward = [];
      try {
        events.push(chunk);
      } catch {
        parseErrors++;
        return chunk;
      }
      return forward.length === 1 ? forward[0]! : Buffer.concat(forward);
    },
    end() {
      let rest: Buffer | undefined;
      try {
        if (lines) lines.end();
        else if (events) rest = events.end();
        else if (framing === "json") endJson();
      } catch {
        parseErrors++;
      }
      if (lines?.overflowed || events?.overflowed) parseErrors++;
      return rest;
    },
    result() {
      const thought = thinking.text();
      const calls = toolCalls.text();
      let response = content.text();
      let responseChars = content.chars;
      if (thought) {
        response = `${THINKING_OPEN}${thought}${THINKING_CLOSE}${response}`;
        responseChars +=
          THINKING_OPEN.length + thinking.chars + THINKING_CLOSE.length;
      }
      if (calls) {
        response = response
          ? `${response}\n${calls.trimEnd()}`
          : calls.trimEnd();
        responseChars += toolCalls.chars;
      }
      return {
        framing,
        response:
          response.length > options.maxPreviewChars
            ? response.slice(0, options.maxPreviewChars)
            : response,
        responseChars,
        usage,
        doneReason,
        done,
        error,
        model,
        parseErrors,
      };
    },
  };
}
