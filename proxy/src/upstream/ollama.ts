// Ollama native response objects (one NDJSON line, or a whole JSON body) → ResponseEvent.
// Every metric field is omitempty and durations are integer nanoseconds (reference/ollama-api.md §2.2, §3.2).
// Pure: no I/O.
import type { Op, ResponseEvent, Usage } from "./types.ts";

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

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

function toolCallTexts(calls: unknown): string[] | undefined {
  if (!Array.isArray(calls) || calls.length === 0) return undefined;
  const texts: string[] = [];
  for (const call of calls) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function : call;
    const args =
      typeof fn.arguments === "string"
        ? fn.arguments
        : JSON.stringify(fn.arguments ?? {});
    texts.push(`${typeof fn.name === "string" ? fn.name : ""}(${args})`);
  }
  return texts.length > 0 ? texts : undefined;
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
