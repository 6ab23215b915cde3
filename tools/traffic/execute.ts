// Sends one planned request with the official clients (ollama-js for native routes, the OpenAI SDK for /v1) and
// reports what the client observed: latency, time to first token, token counts, or the kind of error.
import { Ollama } from "ollama";
import OpenAI from "openai";
import { toMessages } from "./prompt-set.ts";
import type { ErrorKind, RequestPlan, RequestResult } from "./types.ts";

export interface ExecuteContext {
  url: string;
  timeoutMs: number;
  /** Aborted on Ctrl-C: in-flight requests end as `interrupted`. */
  signal: AbortSignal | undefined;
  /** The prompt category recorded with each result (the proxy's own categoriser, so the summary matches it). */
  categorize: (text: string) => string;
  now?: () => number;
}

/** How many streamed chunks the abort-stream fault reads before it hangs up. */
const ABORT_AFTER_CHUNKS = 2;

/** Counts what a request observed while it runs. */
interface Observation {
  start: number;
  ttftMs: number | undefined;
  outputTokens: number | undefined;
  inputTokens: number | undefined;
  chunks: number;
}

class InjectedAbort extends Error {
  constructor() {
    super("stream aborted on purpose after the first chunks");
  }
}

export async function executeRequest(
  plan: RequestPlan,
  context: ExecuteContext,
): Promise<RequestResult> {
  const now = context.now ?? (() => performance.now());
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), context.timeoutMs);
  const signals = context.signal
    ? [timeout.signal, context.signal]
    : [timeout.signal];
  const signal = AbortSignal.any(signals);
  const observed: Observation = {
    start: now(),
    ttftMs: undefined,
    outputTokens: undefined,
    inputTokens: undefined,
    chunks: 0,
  };
  const firstToken = (): void => {
    observed.ttftMs ??= now() - observed.start;
  };
  const base = {
    index: plan.index,
    requestId: plan.headers["X-Request-Id"],
    kind: plan.kind,
    model: plan.model,
    category: context.categorize(promptText(plan)),
    fault: plan.fault,
  };
  try {
    await send(plan, context, signal, observed, firstToken);
    // The OpenAI SDK ends a stream quietly when its signal aborts; a cut-short answer is not a success.
    if (signal.aborted) throw new Error("aborted before the end of the answer");
    return { ...base, ...measurements(observed, now), outcome: "ok" };
  } catch (error) {
    const result = { ...base, ...measurements(observed, now) };
    if (context.signal?.aborted === true)
      return { ...result, outcome: "interrupted" };
    if (error instanceof InjectedAbort)
      return {
        ...result,
        outcome: "error",
        error: "aborted",
        message: error.message,
      };
    if (timeout.signal.aborted) {
      return {
        ...result,
        outcome: "error",
        error: "timeout",
        message: `no answer within ${context.timeoutMs} ms`,
      };
    }
    return {
      ...result,
      outcome: "error",
      ...classifyError(error, observed.chunks > 0),
    };
  } finally {
    clearTimeout(timer);
  }
}

function measurements(observed: Observation, now: () => number) {
  return {
    latencyMs: now() - observed.start,
    ttftMs: observed.ttftMs,
    outputTokens: observed.outputTokens,
    inputTokens: observed.inputTokens,
  };
}

/** The text the proxy would categorise: chat messages as `role: content` lines, or the generate prompt. */
function promptText(plan: RequestPlan): string {
  if (plan.kind === "embed") return plan.inputs.join("\n");
  if (plan.kind === "generate" || plan.kind === "generate-stream") {
    return plan.entry.system !== undefined
      ? `system: ${plan.entry.system}\n${plan.entry.prompt}`
      : plan.entry.prompt;
  }
  return toMessages(plan.entry)
    .map((message) => `${message.role}: ${message.content}`)
    .join("\n");
}

async function send(
  plan: RequestPlan,
  context: ExecuteContext,
  signal: AbortSignal,
  observed: Observation,
  firstToken: () => void,
): Promise<void> {
  const abortNow = plan.fault === "abort-stream";
  switch (plan.kind) {
    case "chat-stream":
    case "chat":
    case "generate-stream":
    case "generate":
    case "embed":
      return sendNative(
        plan,
        createOllama(context.url, plan.headers, signal),
        observed,
        firstToken,
        abortNow,
      );
    case "openai-chat-stream":
    case "openai-chat":
      return sendOpenAI(plan, context, signal, observed, firstToken, abortNow);
  }
}

/** ollama-js takes no per-call signal for non-streaming calls, so the signal rides in through its `fetch`. */
function createOllama(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Ollama {
  return new Ollama({
    host: url,
    headers,
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal,
      }),
  });
}

/** Counts an ollama-js stream's chunks and final token counts; aborts it after a few chunks when asked to. */
async function readNativeStream<
  Part extends { done: boolean; eval_count: number; prompt_eval_count: number },
>(
  stream: AsyncIterable<Part> & { abort(): void },
  hasOutput: (part: Part) => boolean,
  observed: Observation,
  firstToken: () => void,
  abortNow: boolean,
): Promise<void> {
  for await (const part of stream) {
    observed.chunks++;
    if (hasOutput(part)) firstToken();
    if (part.done) {
      observed.outputTokens = part.eval_count;
      observed.inputTokens = part.prompt_eval_count;
    }
    if (abortNow && observed.chunks >= ABORT_AFTER_CHUNKS && !part.done) {
      stream.abort();
      throw new InjectedAbort();
    }
  }
}

async function sendNative(
  plan: RequestPlan,
  client: Ollama,
  observed: Observation,
  firstToken: () => void,
  abortNow: boolean,
): Promise<void> {
  const options = { num_predict: plan.maxTokens };
  const { entry } = plan;
  switch (plan.kind) {
    case "chat-stream": {
      const stream = await client.chat({
        model: plan.model,
        messages: toMessages(entry),
        stream: true,
        options,
      });
      await readNativeStream(
        stream,
        (part) => Boolean(part.message.content || part.message.thinking),
        observed,
        firstToken,
        abortNow,
      );
      return;
    }
    case "chat": {
      const reply = await client.chat({
        model: plan.model,
        messages: toMessages(entry),
        stream: false,
        options,
      });
      observed.outputTokens = reply.eval_count;
      observed.inputTokens = reply.prompt_eval_count;
      return;
    }
    case "generate-stream": {
      const request = {
        model: plan.model,
        prompt: entry.prompt,
        system: entry.system,
        stream: true as const,
        options,
      };
      const stream = await client.generate(request);
      await readNativeStream(
        stream,
        (part) => Boolean(part.response || part.thinking),
        observed,
        firstToken,
        abortNow,
      );
      return;
    }
    case "generate": {
      const reply = await client.generate({
        model: plan.model,
        prompt: entry.prompt,
        system: entry.system,
        stream: false,
        options,
      });
      observed.outputTokens = reply.eval_count;
      observed.inputTokens = reply.prompt_eval_count;
      return;
    }
    case "embed": {
      const input =
        plan.inputs.length === 1 ? (plan.inputs[0] as string) : plan.inputs;
      const reply = await client.embed({ model: plan.model, input });
      observed.inputTokens = reply.prompt_eval_count;
      return;
    }
    default:
      throw new Error(`not a native kind: ${plan.kind}`);
  }
}

async function sendOpenAI(
  plan: RequestPlan,
  context: ExecuteContext,
  signal: AbortSignal,
  observed: Observation,
  firstToken: () => void,
  abortNow: boolean,
): Promise<void> {
  const client = new OpenAI({
    baseURL: `${context.url}/v1`,
    // Ollama ignores the key; the SDK insists on one.
    apiKey: "ollama",
    defaultHeaders: plan.headers,
    maxRetries: 0,
    timeout: context.timeoutMs,
  });
  const messages = toMessages(plan.entry);
  if (plan.kind === "openai-chat") {
    const reply = await client.chat.completions.create(
      { model: plan.model, messages, max_tokens: plan.maxTokens },
      { signal },
    );
    observed.outputTokens = reply.usage?.completion_tokens;
    observed.inputTokens = reply.usage?.prompt_tokens;
    return;
  }
  const stream = await client.chat.completions.create(
    {
      model: plan.model,
      messages,
      max_tokens: plan.maxTokens,
      stream: true,
      stream_options: { include_usage: true },
    },
    { signal },
  );
  for await (const chunk of stream) {
    observed.chunks++;
    const delta = chunk.choices[0]?.delta;
    // Ollama sends thinking as `delta.reasoning` (reference/ollama-api.md §7.3), outside the SDK's types.
    const reasoning =
      delta !== undefined && "reasoning" in delta ? delta.reasoning : undefined;
    if (delta?.content || (typeof reasoning === "string" && reasoning !== ""))
      firstToken();
    if (chunk.usage) {
      observed.outputTokens = chunk.usage.completion_tokens;
      observed.inputTokens = chunk.usage.prompt_tokens;
    }
    if (abortNow && observed.chunks >= ABORT_AFTER_CHUNKS) {
      stream.controller.abort();
      throw new InjectedAbort();
    }
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
]);

/** The error code and message of the innermost cause (undici wraps the socket error in "fetch failed"). */
function rootCause(error: unknown): {
  code: string | undefined;
  message: string | undefined;
} {
  let code: string | undefined;
  let message: string | undefined;
  for (
    let e: unknown = error, depth = 0;
    e instanceof Error && depth < 5;
    e = e.cause, depth++
  ) {
    const own = (e as { code?: unknown }).code;
    if (typeof own === "string") code = own;
    if (depth > 0) message = e.message;
  }
  return { code, message };
}

/** Maps what the clients throw to an error kind. Pure. `midStream` = some of the answer had arrived. */
export function classifyError(
  error: unknown,
  midStream: boolean,
): { error: ErrorKind; message: string } {
  const message = error instanceof Error ? error.message : String(error);
  // ollama-js ResponseError carries status_code; the OpenAI SDK's APIError carries status.
  const status =
    (error as { status_code?: unknown } | null)?.status_code ??
    (error as { status?: unknown } | null)?.status;
  if (typeof status === "number") {
    if (status === 404) return { error: "model_not_found", message };
    if (status >= 500) return { error: "http_5xx", message };
    if (status >= 400) return { error: "http_4xx", message };
  }
  const cause = rootCause(error);
  const detail =
    cause.message !== undefined && cause.message !== message
      ? `${message} (${cause.message})`
      : message;
  if (error instanceof OpenAI.APIConnectionTimeoutError)
    return { error: "timeout", message };
  if (
    (cause.code !== undefined && NETWORK_CODES.has(cause.code)) ||
    error instanceof OpenAI.APIConnectionError ||
    message === "fetch failed"
  ) {
    return {
      error: midStream ? "stream_error" : "unreachable",
      message: detail,
    };
  }
  if (midStream || /did not receive done|stream/i.test(message))
    return { error: "stream_error", message };
  return { error: "other", message };
}
