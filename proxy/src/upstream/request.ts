// Request bodies → RequestInfo (model, stream, rendered prompt). Pure and total: a body that is not the JSON we
// expect still yields an answer, because the proxy forwards it unchanged and Ollama decides what is wrong.
import { generationParams } from "./generation-params.ts";
import { isObject, toolCallTexts, type Json } from "./json-fields.ts";
import type { Op, PromptParts, RequestInfo, Route } from "./types.ts";

export type { Json };

const str = (value: unknown): string | undefined =>
  typeof value === "string" ? value : undefined;

/** What is known of a request before (or without) a JSON body. */
export const EMPTY_REQUEST: RequestInfo = Object.freeze({
  model: undefined,
  stream: false,
  prompt: "",
  promptChars: 0,
  images: 0,
  includeUsage: false,
  loadOnly: false,
  keepAliveZero: false,
});

// Bounds of PromptParts: a long user message keeps this many characters of its head and of its tail (the
// categoriser reads at most 2,560 + 512 of them); the system prompt and the previous user message their head.
const PART_END_CHARS = 4096;
const SYSTEM_PART_CHARS = 1024;
const PREVIOUS_USER_PART_CHARS = 512;

const headAndTail = (text: string, each: number): string =>
  text.length <= 2 * each ? text : text.slice(0, each) + text.slice(-each);

/**
 * Accumulates prompt text up to `maxChars` while counting the full length, and the prompt's parts by role from
 * the messages themselves (message() rather than line()), so that no one has to re-parse the rendered text.
 */
class PromptBuilder {
  private readonly parts: string[] = [];
  private kept = 0;
  total = 0;
  images = 0;
  private readonly maxChars: number;
  private system = "";
  private user = "";
  private previousUser = "";
  private messages = 0;

  constructor(maxChars: number) {
    this.maxChars = maxChars;
  }

  /** One message of `role`, rendered as a `role: text` line (or the bare text for a plain prompt). */
  message(role: string, text: string, rendered = `${role}: ${text}`): void {
    this.line(rendered);
    this.messages++;
    if (role === "system" || role === "developer") {
      if (this.system === "") this.system = text.slice(0, SYSTEM_PART_CHARS);
    } else if (role === "user") {
      this.previousUser = this.user.slice(0, PREVIOUS_USER_PART_CHARS);
      this.user = headAndTail(text, PART_END_CHARS);
    }
  }

  promptParts(): PromptParts | undefined {
    if (this.messages === 0) return undefined;
    return {
      user: this.user,
      system: this.system,
      previousUser: this.previousUser,
    };
  }

  line(text: string): void {
    const piece = this.total === 0 ? text : `\n${text}`;
    this.total += piece.length;
    if (this.kept >= this.maxChars) return;
    const room = this.maxChars - this.kept;
    const kept = piece.length <= room ? piece : piece.slice(0, room);
    this.parts.push(kept);
    this.kept += kept.length;
  }

  text(): string {
    return this.parts.join("");
  }
}

// Tool results may nest content; a hostile body can nest it thousands deep. Deeper parts are not rendered.
const MAX_CONTENT_DEPTH = 8;

/** Renders OpenAI/Anthropic content (a string or an array of typed parts), counting image parts. */
function renderContent(
  content: unknown,
  prompt: PromptBuilder,
  depth = 0,
): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content) || depth >= MAX_CONTENT_DEPTH) return "";
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === "string") {
      texts.push(part);
      continue;
    }
    if (!isObject(part)) continue;
    const type = str(part.type);
    if (type === "image_url" || type === "input_image" || type === "image") {
      prompt.images++;
    } else if (type === "tool_result" || type === "function_call_output") {
      texts.push(
        `[tool result] ${renderContent(part.content ?? part.output, prompt, depth + 1)}`,
      );
    } else if (type === "tool_use") {
      texts.push(
        `[tool call] ${str(part.name) ?? ""}(${JSON.stringify(part.input ?? {})})`,
      );
    } else {
      const text =
        str(part.text) ?? str(part.input_text) ?? str(part.output_text);
      if (text !== undefined) texts.push(text);
    }
  }
  return texts.join("\n");
}

function renderToolCalls(calls: unknown): string {
  return (toolCallTexts(calls) ?? [])
    .map((call) => `[tool call] ${call}`)
    .join("\n");
}

/** Chat messages as `role: content` lines, the system prompt included (Ollama, OpenAI and Anthropic shapes). */
function renderMessages(messages: unknown, prompt: PromptBuilder): number {
  if (!Array.isArray(messages)) return 0;
  for (const message of messages) {
    if (!isObject(message)) continue;
    const role = str(message.role) ?? "user";
    let text = renderContent(message.content, prompt);
    if (Array.isArray(message.images)) prompt.images += message.images.length;
    const calls = renderToolCalls(message.tool_calls);
    if (calls) text = text ? `${text}\n${calls}` : calls;
    prompt.message(role, text);
  }
  return messages.length;
}

function renderInput(input: unknown, prompt: PromptBuilder): number {
  if (typeof input === "string") {
    if (input !== "") prompt.message("user", input, input);
    return input === "" ? 0 : 1;
  }
  if (!Array.isArray(input)) return 0;
  let count = 0;
  for (const item of input) {
    if (typeof item === "string") {
      prompt.message("user", item, item);
      count++;
    } else if (
      isObject(item) &&
      (item.role !== undefined || item.content !== undefined)
    ) {
      // /v1/responses input items
      prompt.message(
        str(item.role) ?? "user",
        renderContent(item.content, prompt),
      );
      count++;
    } else if (isObject(item) && item.type === "function_call_output") {
      prompt.message("tool", renderContent(item.output, prompt));
      count++;
    }
  }
  return count;
}

/** keep_alive of 0 in any of the forms Ollama accepts (reference/ollama-api.md §2.1, §3.6). */
function isZeroKeepAlive(value: unknown): boolean {
  if (value === 0) return true;
  return (
    typeof value === "string" &&
    /^0+(\.0+)?(ns|us|µs|ms|s|m|h)?$/.test(value.trim())
  );
}

/** Ollama's native routes stream unless told otherwise; OpenAI and Anthropic routes only when asked. */
function defaultStream(op: Op): boolean {
  return (
    op === "generate" ||
    op === "chat" ||
    op === "pull" ||
    op === "push" ||
    op === "create"
  );
}

/** The body as a JSON object, or undefined when it is empty, not JSON, or not an object. */
export function parseJsonObject(body: Buffer | undefined): Json | undefined {
  if (!body || body.length === 0) return undefined;
  try {
    const json: unknown = JSON.parse(body.toString("utf8"));
    return isObject(json) ? json : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads what the proxy needs from a JSON request body. `maxChars` bounds the rendered prompt held in memory.
 * Returns a neutral RequestInfo for bodies that are not JSON objects.
 */
export function parseRequest(
  route: Route,
  body: Buffer | undefined,
  maxChars: number,
): RequestInfo {
  return describeRequest(route, parseJsonObject(body), maxChars);
}

export function describeRequest(
  route: Route,
  json: Json | undefined,
  maxChars: number,
): RequestInfo {
  const prompt = new PromptBuilder(maxChars);
  if (!json) return { ...EMPTY_REQUEST, stream: defaultStream(route.op) };
  let inputs = 0;
  switch (route.op) {
    case "generate":
      if (typeof json.system === "string" && json.system !== "")
        prompt.message("system", json.system);
      if (typeof json.prompt === "string" && json.prompt !== "") {
        prompt.message("user", json.prompt, json.prompt);
        inputs = 1;
      }
      if (Array.isArray(json.images)) prompt.images += json.images.length;
      break;
    case "chat":
    case "chat_completions":
      inputs = renderMessages(json.messages, prompt);
      break;
    case "messages":
      if (json.system !== undefined)
        prompt.message("system", renderContent(json.system, prompt));
      inputs = renderMessages(json.messages, prompt);
      break;
    case "completions":
      inputs = renderInput(json.prompt, prompt);
      break;
    case "embed":
    case "openai_embeddings":
      inputs = renderInput(json.input, prompt);
      break;
    case "embeddings":
      inputs = renderInput(json.prompt, prompt);
      break;
    case "responses":
      if (typeof json.instructions === "string")
        prompt.message("system", json.instructions);
      inputs = renderInput(json.input, prompt);
      break;
    default:
      break;
  }
  const streamOptions = isObject(json.stream_options)
    ? json.stream_options
    : undefined;
  const model =
    str(json.model) ??
    str(json.name) ??
    (route.op === "copy" ? str(json.source) : undefined);
  const promptParts = prompt.promptParts();
  const loadable =
    route.op === "generate" || route.op === "chat" || route.op === "embed";
  const params = route.inference ? generationParams(route, json) : undefined;
  return {
    model,
    stream:
      route.op === "embed" || route.op === "embeddings"
        ? false
        : typeof json.stream === "boolean"
          ? json.stream
          : defaultStream(route.op),
    prompt: prompt.text(),
    promptChars: prompt.total,
    ...(promptParts ? { promptParts } : {}),
    images: prompt.images,
    ...(params ? { params } : {}),
    includeUsage: streamOptions?.include_usage === true,
    loadOnly: loadable && inputs === 0,
    keepAliveZero: isZeroKeepAlive(json.keep_alive),
  };
}

/**
 * The one deliberate change to a request: ask Ollama for token counts on an OpenAI stream that did not ask for
 * them (reference/ollama-api.md §7.3). Returns the new body, or undefined when the request needs no change.
 */
export function withIncludeUsage(json: Json): Json | undefined {
  if (json.stream !== true) return undefined;
  const options = isObject(json.stream_options) ? json.stream_options : {};
  if (options.include_usage === true) return undefined;
  return { ...json, stream_options: { ...options, include_usage: true } };
}
