// Protocol-neutral shapes that the parsers produce. Wire names stay inside upstream/; everything outside sees these.

export type Api = "ollama" | "openai" | "anthropic";

/** What a route does; decides how its request and response are parsed. */
export type Op =
  | "generate"
  | "chat"
  | "embed"
  | "embeddings"
  | "chat_completions"
  | "completions"
  | "openai_embeddings"
  | "responses"
  | "messages"
  | "pull"
  | "push"
  | "create"
  | "copy"
  | "delete"
  | "show"
  | "blob"
  | "tags"
  | "ps"
  | "version"
  | "models"
  | "status"
  | "root"
  | "me"
  | "signout"
  | "web_search"
  | "web_fetch"
  | "recommendations"
  | "transcriptions"
  | "other";

export interface Route {
  /** The route template, never a raw path: bounded metric label. */
  readonly endpoint: string;
  readonly api: Api;
  readonly op: Op;
  /** Body is JSON the proxy reads (model, prompt, stream); other bodies stream straight through. */
  readonly readsBody: boolean;
  /** Generates tokens: TTFT and token metrics apply. */
  readonly inference: boolean;
  /** Changes the set of installed models: the model allow-list is refreshed after it succeeds. */
  readonly changesModels: boolean;
}

/** Sampling parameters a request sets (upstream/generation-params.ts reads them from either family's body). */
export interface GenerationParams {
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly seed?: number;
  readonly stopSequences?: readonly string[];
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
}

/** What the proxy needs from a request body. */
/**
 * The parts of a prompt that say what it is about, read from the request's structure (never re-parsed from the
 * rendered text): the last user message, the system prompt and the user message before the last. Bounded: a
 * long message keeps its head and its tail.
 */
export interface PromptParts {
  readonly user: string;
  readonly system: string;
  readonly previousUser: string;
}

export interface RequestInfo {
  /** As the client sent it (Ollama echoes it verbatim). */
  readonly model: string | undefined;
  readonly stream: boolean;
  /** Rendered prompt text, at most `maxChars` characters; `promptChars` is the full length. */
  readonly prompt: string;
  readonly promptChars: number;
  /** Set for requests that carry a prompt (generate, chat, completions, embeddings, responses, messages). */
  readonly promptParts?: PromptParts;
  readonly images: number;
  /** Sampling parameters the request sets (inference routes). */
  readonly params?: GenerationParams;
  /** OpenAI streaming request that already asked for `stream_options.include_usage`. */
  readonly includeUsage: boolean;
  /** Load-only or unload request (empty prompt or messages): Ollama answers one JSON object. */
  readonly loadOnly: boolean;
  readonly keepAliveZero: boolean;
}

/** Token counts and Ollama's own timings, translated once from wire names (nanoseconds → seconds). */
export interface Usage {
  promptTokens?: number;
  completionTokens?: number;
  totalDurationSeconds?: number;
  loadDurationSeconds?: number;
  promptEvalDurationSeconds?: number;
  evalDurationSeconds?: number;
}

/** What one parsed unit of a response (an NDJSON line, an SSE event or a whole JSON body) tells us. */
export interface ResponseEvent {
  /** Generated text (content), appended to the response preview. */
  text?: string;
  /** Reasoning text. */
  thinking?: string;
  /** Tool calls rendered as `name(arguments)`. */
  toolCalls?: string[];
  /** True when this unit carries visible output: content, thinking or a tool call (TTFT). */
  hasOutput: boolean;
  /** Usage fields seen in this unit; later units override earlier ones field by field. */
  usage?: Usage;
  doneReason?: string;
  /** The response reached its protocol-level end (done:true, [DONE], response.completed, message_stop). */
  done?: boolean;
  /** An error reported inside the body (mid-stream error line or error object). */
  error?: string;
  /** The model the upstream says answered. */
  model?: string;
}
