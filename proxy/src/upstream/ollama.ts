// Ollama native response objects (one NDJSON line, or a whole JSON body) → ResponseEvent.
// Every metric field is omitempty and durations are integer nanoseconds (reference/ollama-api.md §2.2, §3.2).
// Pure: no I/O.
import { isObject, num, toolCallTexts, type Json } from "./json-fields.ts";
import type { Op, ResponseEvent, Usage } from "./types.ts";

const nsToSeconds = (value: unknown): number | undefined => {
  const ns = num(value);
  return ns === undefined ? undefined : ns / 1e9;
};

/** Usage from an Ollama final object; absent fields stay absent (omitempty means 0 only when done). */
export function ollamaUsage(obj: Json): Usage | undefined {
  const usage: Usage = {};
  const promptTokens = num(obj.prompt_eval_count);
  const completionTokens = num(obj.eval_count);
  if (promptTokens !== undefined) usage.promptTokens = promptTokens;
  if (completionTokens !== undefined) usage.completionTokens = completionTokens;
  const total = nsToSeconds(obj.total_duration);
  const load = nsToSeconds(obj.load_duration);
  const promptEval = nsToSeconds(obj.prompt_eval_duration);
  const evalSeconds = nsToSeconds(obj.eval_duration);
  if (total !== undefined) usage.totalDurationSeconds = total;
  if (load !== undefined) usage.loadDurationSeconds = load;
  if (promptEval !== undefined) usage.promptEvalDurationSeconds = promptEval;
  if (evalSeconds !== undefined) usage.evalDurationSeconds = evalSeconds;
  return Object.keys(usage).length > 0 ? usage : undefined;
}

/** One Ollama object of a generate/chat/embed/pull… response. */
export function parseOllamaObject(op: Op, obj: Json): ResponseEvent {
  if (typeof obj.error === "string" || isObject(obj.error)) {
    const error =
      typeof obj.error === "string" ? obj.error : JSON.stringify(obj.error);
    return { hasOutput: false, error };
  }
  const event: ResponseEvent = { hasOutput: false };
  if (typeof obj.model === "string") event.model = obj.model;
  let text: string | undefined;
  let thinking: string | undefined;
  let calls: string[] | undefined;
  if (op === "chat") {
    const message = isObject(obj.message) ? obj.message : undefined;
    if (message) {
      if (typeof message.content === "string") text = message.content;
      if (typeof message.thinking === "string") thinking = message.thinking;
      calls = toolCallTexts(message.tool_calls);
    }
  } else if (op === "generate") {
    if (typeof obj.response === "string") text = obj.response;
    if (typeof obj.thinking === "string") thinking = obj.thinking;
    calls = toolCallTexts(obj.tool_calls);
  }
  if (text) event.text = text;
  if (thinking) event.thinking = thinking;
  if (calls) event.toolCalls = calls;
  event.hasOutput = Boolean(text || thinking || calls);

  switch (op) {
    case "generate":
    case "chat":
      if (obj.done === true) {
        event.done = true;
        if (typeof obj.done_reason === "string" && obj.done_reason !== "")
          event.doneReason = obj.done_reason;
        const usage = ollamaUsage(obj);
        // A normal done line without counts means zero tokens (omitempty); load/unload replies carry none.
        event.usage = usage ?? {};
      }
      break;
    case "embed": {
      event.done = Array.isArray(obj.embeddings);
      const usage = ollamaUsage(obj);
      if (usage) event.usage = usage;
      break;
    }
    case "embeddings":
      event.done = Array.isArray(obj.embedding);
      break;
    case "pull":
    case "push":
    case "create":
      if (obj.status === "success") event.done = true;
      break;
    default:
      event.done = true;
  }
  return event;
}

// The token lines that make up nearly all of a native stream, byte for byte as Ollama's json.Encoder writes them
// (server/routes.go: api.ChatResponse / api.GenerateResponse, done:false, empty fields omitted).
const HEAD = Buffer.from('{"model":"');
const CREATED_AT = Buffer.from('","created_at":"');
const CHAT_CONTENT = Buffer.from('","message":{"role":"assistant","content":"');
const CHAT_TAIL = Buffer.from('"},"done":false}');
const GENERATE_RESPONSE = Buffer.from('","response":"');
const GENERATE_TAIL = Buffer.from('","done":false}');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function matchAt(bytes: Buffer, at: number, expected: Buffer): boolean {
  if (at + expected.length > bytes.length) return false;
  for (let i = 0; i < expected.length; i++)
    if (bytes[at + i] !== expected[i]) return false;
  return true;
}

/**
 * End of a JSON string body starting at `from` (the index of its closing quote), negated and minus one when the
 * body holds an escape; NaN when no closing quote comes before `limit` or a raw control byte is in the way.
 */
function stringEnd(bytes: Buffer, from: number, limit: number): number {
  let escaped = false;
  for (let i = from; i < limit; i++) {
    const byte = bytes[i] as number;
    if (byte === QUOTE) return escaped ? -i - 1 : i;
    if (byte === BACKSLASH) {
      escaped = true;
      i++;
    } else if (byte < 0x20) return Number.NaN;
  }
  return Number.NaN;
}

/** The string whose body is bytes[from, end) (`end` from stringEnd); undefined where JSON.parse would fail. */
function stringAt(
  bytes: Buffer,
  from: number,
  end: number,
): string | undefined {
  if (end >= 0) return bytes.toString("utf8", from, end);
  try {
    // An escape: decode the literal, quotes included, as the full parse would.
    return JSON.parse(bytes.toString("utf8", from - 1, -end)) as string;
  } catch {
    return undefined;
  }
}

const position = (end: number) => (end >= 0 ? end : -end - 1);

/**
 * Fast path for one NDJSON line of a chat or generate stream, read straight from its bytes: when the line is exactly
 * a done:false token line, returns what parseOllamaObject would return for it parsed (the model only when
 * `withModel`); otherwise undefined, and the caller parses the line in full. `end` excludes the newline.
 */
export function parseOllamaTokenLine(
  op: Op,
  bytes: Buffer,
  start: number,
  end: number,
  withModel: boolean,
): ResponseEvent | undefined {
  if (op !== "chat" && op !== "generate") return undefined;
  if (!matchAt(bytes, start, HEAD)) return undefined;
  const modelStart = start + HEAD.length;
  const modelEnd = stringEnd(bytes, modelStart, end);
  if (Number.isNaN(modelEnd)) return undefined;
  if (!matchAt(bytes, position(modelEnd), CREATED_AT)) return undefined;
  const timeStart = position(modelEnd) + CREATED_AT.length;
  const timeEnd = stringEnd(bytes, timeStart, end);
  // The timestamp is not needed, but an escape in it could hide a bad one: leave such lines to the full parse.
  if (Number.isNaN(timeEnd) || timeEnd < 0) return undefined;
  const middle = op === "chat" ? CHAT_CONTENT : GENERATE_RESPONSE;
  if (!matchAt(bytes, timeEnd, middle)) return undefined;
  const textStart = timeEnd + middle.length;
  const textEnd = stringEnd(bytes, textStart, end);
  if (Number.isNaN(textEnd)) return undefined;
  const tail = op === "chat" ? CHAT_TAIL : GENERATE_TAIL;
  if (position(textEnd) + tail.length !== end) return undefined;
  if (!matchAt(bytes, position(textEnd), tail)) return undefined;
  const text = stringAt(bytes, textStart, textEnd);
  if (text === undefined) return undefined;
  const event: ResponseEvent = { hasOutput: text !== "" };
  if (withModel) {
    const model = stringAt(bytes, modelStart, modelEnd);
    if (model === undefined) return undefined;
    event.model = model;
  }
  if (text !== "") event.text = text;
  return event;
}
