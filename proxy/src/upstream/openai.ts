// OpenAI-compatible (/v1/*) and Anthropic (/v1/messages) response objects → ResponseEvent.
// Handles both chat-completion stream formats (≥ v0.32.6 and legacy), the zero-usage quirk of /v1/completions
// (take the last usage seen), the Responses API and Anthropic events (reference/ollama-api.md §7). Pure.
import { isObject, num, toolCallTexts, type Json } from "./json-fields.ts";
import type { Op, ResponseEvent, Usage } from "./types.ts";

const text = (value: unknown): string =>
  typeof value === "string" ? value : "";

function openaiUsage(usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  const result: Usage = {};
  const prompt = num(usage.prompt_tokens) ?? num(usage.input_tokens);
  const completion = num(usage.completion_tokens) ?? num(usage.output_tokens);
  if (prompt !== undefined) result.promptTokens = prompt;
  if (completion !== undefined) result.completionTokens = completion;
  return Object.keys(result).length > 0 ? result : undefined;
}

function errorText(error: unknown): string | undefined {
  if (typeof error === "string") return error;
  if (isObject(error))
    return typeof error.message === "string"
      ? error.message
      : JSON.stringify(error);
  return undefined;
}

function finish(event: ResponseEvent): ResponseEvent {
  event.hasOutput = Boolean(event.text || event.thinking || event.toolCalls);
  return event;
}

/** A chat.completion(.chunk) or text_completion object. `streamed` objects end only at [DONE]. */
function parseCompletion(obj: Json, streamed: boolean): ResponseEvent {
  const event: ResponseEvent = { hasOutput: false };
  if (typeof obj.model === "string") event.model = obj.model;
  const usage = openaiUsage(obj.usage);
  if (usage) event.usage = usage;
  const choice =
    Array.isArray(obj.choices) && isObject(obj.choices[0])
      ? obj.choices[0]
      : undefined;
  if (choice) {
    const part = isObject(choice.delta)
      ? choice.delta
      : isObject(choice.message)
        ? choice.message
        : choice;
    if (typeof part.content === "string" && part.content)
      event.text = part.content;
    if (typeof part.text === "string" && part.text) event.text = part.text;
    const reasoning = part.reasoning ?? part.reasoning_content;
    if (typeof reasoning === "string" && reasoning) event.thinking = reasoning;
    const calls = toolCallTexts(part.tool_calls);
    if (calls) event.toolCalls = calls;
    if (typeof choice.finish_reason === "string")
      event.doneReason = choice.finish_reason;
  }
  if (!streamed) event.done = true;
  return finish(event);
}

function parseResponsesObject(response: Json): ResponseEvent {
  const event: ResponseEvent = { hasOutput: false, done: true };
  if (typeof response.model === "string") event.model = response.model;
  const usage = openaiUsage(response.usage);
  if (usage) event.usage = usage;
  const texts: string[] = [];
  const thinking: string[] = [];
  const calls: string[] = [];
  for (const item of Array.isArray(response.output) ? response.output : []) {
    if (!isObject(item)) continue;
    if (item.type === "function_call") {
      calls.push(`${text(item.name)}(${text(item.arguments)})`);
    }
    for (const part of Array.isArray(item.content) ? item.content : []) {
      if (isObject(part) && typeof part.text === "string")
        texts.push(part.text);
    }
    for (const part of Array.isArray(item.summary) ? item.summary : []) {
      if (isObject(part) && typeof part.text === "string")
        thinking.push(part.text);
    }
  }
  if (texts.length) event.text = texts.join("");
  if (thinking.length) event.thinking = thinking.join("");
  if (calls.length) event.toolCalls = calls;
  if (typeof response.status === "string" && response.status !== "completed")
    event.doneReason = response.status;
  const error = errorText(response.error);
  if (error) event.error = error;
  return finish(event);
}

/** One Responses API stream event (`event:` name plus its data object). */
function parseResponsesEvent(type: string, obj: Json): ResponseEvent {
  const event: ResponseEvent = { hasOutput: false };
  switch (type) {
    case "response.output_text.delta":
      if (typeof obj.delta === "string" && obj.delta) event.text = obj.delta;
      break;
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
      if (typeof obj.delta === "string" && obj.delta)
        event.thinking = obj.delta;
      break;
    case "response.output_item.done":
      if (isObject(obj.item) && obj.item.type === "function_call") {
        event.toolCalls = [
          `${text(obj.item.name)}(${text(obj.item.arguments)})`,
        ];
      }
      break;
    case "response.completed":
    case "response.incomplete":
    case "response.failed":
      if (isObject(obj.response)) {
        const done = parseResponsesObject(obj.response);
        return {
          hasOutput: false,
          done: true,
          usage: done.usage,
          model: done.model,
          doneReason: done.doneReason,
          error: done.error,
        };
      }
      event.done = true;
      break;
    case "error":
      event.error =
        errorText(obj.error) ??
        (typeof obj.message === "string" ? obj.message : "error");
      break;
    default:
      break;
  }
  return finish(event);
}

function anthropicMessage(obj: Json): ResponseEvent {
  const event: ResponseEvent = { hasOutput: false, done: true };
  if (typeof obj.model === "string") event.model = obj.model;
  const usage = openaiUsage(obj.usage);
  if (usage) event.usage = usage;
  const texts: string[] = [];
  const thinking: string[] = [];
  const calls: string[] = [];
  for (const block of Array.isArray(obj.content) ? obj.content : []) {
    if (!isObject(block)) continue;
    if (block.type === "text" && typeof block.text === "string")
      texts.push(block.text);
    if (block.type === "thinking" && typeof block.thinking === "string")
      thinking.push(block.thinking);
    if (block.type === "tool_use")
      calls.push(`${text(block.name)}(${JSON.stringify(block.input ?? {})})`);
  }
  if (texts.length) event.text = texts.join("");
  if (thinking.length) event.thinking = thinking.join("");
  if (calls.length) event.toolCalls = calls;
  if (typeof obj.stop_reason === "string") event.doneReason = obj.stop_reason;
  return finish(event);
}

/** One Anthropic Messages stream event. Input tokens at message_start may be an estimate; message_delta wins. */
function parseAnthropicEvent(type: string, obj: Json): ResponseEvent {
  const event: ResponseEvent = { hasOutput: false };
  switch (type) {
    case "message_start":
      if (isObject(obj.message)) {
        if (typeof obj.message.model === "string")
          event.model = obj.message.model;
        const usage = openaiUsage(obj.message.usage);
        if (usage?.promptTokens !== undefined)
          event.usage = { promptTokens: usage.promptTokens };
      }
      break;
    case "content_block_start":
      if (
        isObject(obj.content_block) &&
        obj.content_block.type === "tool_use"
      ) {
        event.toolCalls = [`${text(obj.content_block.name)}()`];
      }
      break;
    case "content_block_delta":
      if (isObject(obj.delta)) {
        if (typeof obj.delta.text === "string" && obj.delta.text)
          event.text = obj.delta.text;
        if (typeof obj.delta.thinking === "string" && obj.delta.thinking)
          event.thinking = obj.delta.thinking;
      }
      break;
    case "message_delta": {
      const usage = openaiUsage(obj.usage);
      if (usage) event.usage = usage;
      if (isObject(obj.delta) && typeof obj.delta.stop_reason === "string")
        event.doneReason = obj.delta.stop_reason;
      break;
    }
    case "message_stop":
      event.done = true;
      break;
    case "error":
      event.error = errorText(obj.error) ?? "error";
      break;
    default:
      break;
  }
  return finish(event);
}

/**
 * One SSE event's data (already JSON-parsed, or "[DONE]") from a /v1 stream.
 * `eventName` is the SSE `event:` field, present on /v1/responses and /v1/messages.
 */
export function parseOpenAiStreamEvent(
  op: Op,
  eventName: string | undefined,
  data: string,
  obj: Json | undefined,
): ResponseEvent {
  if (data === "[DONE]") return { hasOutput: false, done: true };
  if (!obj) return { hasOutput: false };
  if (obj.error !== undefined && op !== "responses" && op !== "messages") {
    return { hasOutput: false, error: errorText(obj.error) ?? "error" };
  }
  if (op === "responses")
    return parseResponsesEvent(eventName ?? text(obj.type), obj);
  if (op === "messages")
    return parseAnthropicEvent(eventName ?? text(obj.type), obj);
  return parseCompletion(obj, true);
}

/** A whole non-streamed /v1 JSON body (completion, embeddings list, response, message, or an error). */
export function parseOpenAiBody(op: Op, obj: Json): ResponseEvent {
  if (
    obj.type === "error" ||
    (obj.error !== undefined && obj.error !== null && obj.object === undefined)
  ) {
    return { hasOutput: false, error: errorText(obj.error) ?? "error" };
  }
  switch (op) {
    case "responses":
      return parseResponsesObject(obj);
    case "messages":
      return anthropicMessage(obj);
    case "openai_embeddings": {
      const event: ResponseEvent = { hasOutput: false, done: true };
      if (typeof obj.model === "string") event.model = obj.model;
      const usage = openaiUsage(obj.usage);
      if (usage) event.usage = usage;
      return event;
    }
    case "chat_completions":
    case "completions":
      return parseCompletion(obj, false);
    default:
      return { hasOutput: false, done: true };
  }
}

/**
 * True for the usage-only frame (`choices: []` plus `usage`) that the proxy asked for on the client's behalf
 * and must remove so that the client sees what it would have seen (§7.3, §7.4, §7.5).
 */
export function isUsageOnlyChunk(obj: Json | undefined): boolean {
  return (
    obj !== undefined &&
    Array.isArray(obj.choices) &&
    obj.choices.length === 0 &&
    isObject(obj.usage)
  );
}

// The zero usage object /v1/completions adds to every chunk when include_usage is on (§7.5), as Go writes it.
const ZERO_USAGE =
  /,"usage":\{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0(?:,"[a-z_]+":(?:\{[^{}]*\}|[0-9]+))*\}/;

/** Removes the injected zero-usage member from a /v1/completions chunk's raw SSE bytes; undefined if absent. */
export function stripZeroUsage(raw: string): string | undefined {
  const stripped = raw.replace(ZERO_USAGE, "");
  return stripped === raw ? undefined : stripped;
}
