// Stack cases (test/stack/cases/*.yaml, after grafana/oats' oats-case.yaml): requests a user sends through the
// proxy with the official `ollama` and `openai` clients, and what Prometheus and Loki must then show.
//
//   name: …
//   requests:                     # sent in order; `model` is `chat`/`embed` (x-stack-test in compose.test.yaml)
//     - { client: ollama | openai, op: pull | chat | generate | embed, model, stream?, include_usage?, status? }
//   expected:
//     metrics:                    # PromQL (instant query) → the value it must have for exactly these requests:
//       - promql: sum(…{model="${chat_model}"})
//         equals: <count|streamed|prompt_tokens|completion_tokens> [endpoint]   # over this case's requests
//     records:                    # one record per request, found by request_id:
//       logql: '{…} | json | request_id="${request_id}"'   # against a real Loki
//       fields: [endpoint, model, …]                      # equal to what the client sent and saw
//
// Token counts are what the client saw (Ollama's prompt_eval_count/eval_count, OpenAI's usage); an OpenAI stream
// whose client did not ask for usage shows none, and then the record's counts stand in for the metric sums.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { parse } from "yaml";

export interface CaseRequest {
  client: "ollama" | "openai";
  op: "pull" | "chat" | "generate" | "embed";
  /** `chat` or `embed` name the test models; anything else is sent as is. */
  model: string;
  stream?: boolean;
  include_usage?: boolean;
  /** The status the client must get (default 200). */
  status?: number;
}

export interface MetricExpectation {
  promql: string;
  equals: string;
}

export interface StackCase {
  file: string;
  name: string;
  requests: CaseRequest[];
  expected: {
    metrics?: MetricExpectation[];
    records?: { logql: string; fields: RecordField[] };
  };
}

export type RecordField =
  | "endpoint"
  | "model"
  | "stream"
  | "status"
  | "prompt_tokens"
  | "completion_tokens";

/** One request as the client saw it. */
export interface Observed {
  label: string;
  requestId: string;
  endpoint: string;
  model: string;
  stream: boolean;
  status: number;
  expectedStatus: number;
  /** The client cannot see the token counts (OpenAI stream without include_usage; see the header). */
  usageHidden: boolean;
  /** undefined: not seen (usageHidden) or not applicable (an embedding has no completion tokens). */
  prompt_tokens?: number;
  completion_tokens?: number;
}

export interface Models {
  chat: string;
  embed: string;
}

export function loadCases(dir: string): StackCase[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const raw = parse(readFileSync(path.join(dir, file), "utf8")) as Omit<
        StackCase,
        "file"
      >;
      return { file, ...raw };
    });
}

/** Fills ${name} placeholders; an unknown name is an error, not an empty string. */
export function fill(
  template: string,
  values: Readonly<Record<string, string>>,
): string {
  return template.replace(/\$\{([a-z_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw new Error(`unknown placeholder \${${name}} in ${template}`);
    return value;
  });
}

const modelOf = (request: CaseRequest, models: Models) =>
  request.model === "chat"
    ? models.chat
    : request.model === "embed"
      ? models.embed
      : request.model;

const ENDPOINTS: Record<CaseRequest["client"], Record<string, string>> = {
  ollama: {
    pull: "/api/pull",
    chat: "/api/chat",
    generate: "/api/generate",
    embed: "/api/embed",
  },
  openai: { chat: "/v1/chat/completions" },
};

/** A fetch that remembers the proxy's X-Request-Id and status of the (single) call made with it. */
function trackingFetch(seen: { requestId?: string; status?: number }) {
  return async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const response = await fetch(input, init);
    seen.requestId = response.headers.get("x-request-id") ?? undefined;
    seen.status = response.status;
    return response;
  };
}

const PROMPT = "Name three colours of the rainbow.";
/** Short answers: fast on a CI runner's CPU with the real model, and the same length on the emulator. */
const MAX_TOKENS = 16;

/**
 * Sends one request through the proxy with the official client and returns what the client saw. An HTTP error
 * (the client throws) is an observation too, with its status.
 */
export async function sendRequest(
  proxyUrl: string,
  request: CaseRequest,
  models: Models,
): Promise<Observed> {
  const model = modelOf(request, models);
  const endpoint = ENDPOINTS[request.client][request.op];
  if (endpoint === undefined)
    throw new Error(`no ${request.op} for the ${request.client} client`);
  const stream = request.stream ?? false;
  const label = `${request.client} ${request.op}${stream ? " stream" : ""}${request.include_usage ? " +usage" : ""} ${model}`;
  const seen: { requestId?: string; status?: number } = {};
  const counts: { prompt_tokens?: number; completion_tokens?: number } = {};
  try {
    if (request.client === "ollama") {
      const ollama = new Ollama({
        host: proxyUrl,
        fetch: trackingFetch(seen),
      });
      await sendOllama(ollama, request.op, model, stream, counts);
    } else {
      const openai = new OpenAI({
        baseURL: `${proxyUrl}/v1`,
        apiKey: "ollama",
        fetch: trackingFetch(seen),
        maxRetries: 0,
      });
      await sendOpenAi(
        openai,
        model,
        stream,
        request.include_usage ?? false,
        counts,
      );
    }
  } catch (error) {
    if (seen.status === undefined || seen.status < 400) throw error;
  }
  if (seen.requestId === undefined)
    throw new Error(`${label}: the proxy sent no X-Request-Id`);
  return {
    label,
    requestId: seen.requestId,
    endpoint,
    model,
    stream,
    status: seen.status ?? 0,
    expectedStatus: request.status ?? 200,
    usageHidden:
      request.client === "openai" && stream && !request.include_usage,
    ...counts,
  };
}

async function sendOllama(
  ollama: Ollama,
  op: CaseRequest["op"],
  model: string,
  stream: boolean,
  counts: { prompt_tokens?: number; completion_tokens?: number },
): Promise<void> {
  const final = (r: { prompt_eval_count?: number; eval_count?: number }) => {
    counts.prompt_tokens = r.prompt_eval_count ?? 0;
    counts.completion_tokens = r.eval_count ?? 0;
  };
  const messages = [{ role: "user", content: PROMPT }];
  const options = { num_predict: MAX_TOKENS };
  switch (op) {
    case "pull":
      await ollama.pull({ model, stream: false });
      return;
    case "embed": {
      const r = await ollama.embed({ model, input: PROMPT });
      counts.prompt_tokens = r.prompt_eval_count ?? 0;
      return;
    }
    case "chat":
      if (!stream)
        return final(await ollama.chat({ model, messages, options }));
      for await (const part of await ollama.chat({
        model,
        messages,
        options,
        stream: true,
      }))
        if (part.done) final(part);
      return;
    case "generate":
      if (!stream)
        return final(await ollama.generate({ model, prompt: PROMPT }));
      for await (const part of await ollama.generate({
        model,
        prompt: PROMPT,
        stream: true,
      }))
        if (part.done) final(part);
      return;
  }
}

async function sendOpenAi(
  openai: OpenAI,
  model: string,
  stream: boolean,
  includeUsage: boolean,
  counts: { prompt_tokens?: number; completion_tokens?: number },
): Promise<void> {
  const messages = [{ role: "user" as const, content: PROMPT }];
  if (!stream) {
    const completion = await openai.chat.completions.create({
      model,
      messages,
      max_tokens: MAX_TOKENS,
    });
    counts.prompt_tokens = completion.usage?.prompt_tokens;
    counts.completion_tokens = completion.usage?.completion_tokens;
    return;
  }
  const chunks = await openai.chat.completions.create({
    model,
    messages,
    max_tokens: MAX_TOKENS,
    stream: true,
    ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
  });
  let usageSeen = false;
  for await (const chunk of chunks) {
    if (chunk.usage) {
      usageSeen = true;
      counts.prompt_tokens = chunk.usage.prompt_tokens;
      counts.completion_tokens = chunk.usage.completion_tokens;
    }
  }
  if (usageSeen !== includeUsage)
    throw new Error(
      `openai stream: usage chunk ${usageSeen ? "present" : "missing"} although the client ${includeUsage ? "asked" : "did not ask"} for it`,
    );
}

/**
 * The value an `equals:` expression stands for over a case's requests: `count`, `streamed`, `prompt_tokens` or
 * `completion_tokens`, optionally restricted to one endpoint. `recordOf` supplies counts the client could not see.
 */
export function expectedValue(
  expression: string,
  observed: readonly Observed[],
  recordOf: (requestId: string) => Partial<Record<string, unknown>> | undefined,
): number {
  const [what, endpoint] = expression.trim().split(/\s+/);
  const pick = observed.filter(
    (o) => endpoint === undefined || o.endpoint === endpoint,
  );
  switch (what) {
    case "count":
      return pick.length;
    case "streamed":
      return pick.filter((o) => o.stream).length;
    case "prompt_tokens":
    case "completion_tokens":
      return pick.reduce((sum, o) => {
        const seen = o[what];
        if (!o.usageHidden) return sum + (seen ?? 0);
        const recorded = recordOf(o.requestId)?.[what];
        if (typeof recorded !== "number")
          throw new Error(
            `${o.label}: neither the client nor the record has ${what}`,
          );
        return sum + recorded;
      }, 0);
    default:
      throw new Error(`unknown expectation "${expression}"`);
  }
}
