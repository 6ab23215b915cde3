// Command line → TrafficOptions. Pure: argv and env in, a value or a reason out; nothing is read or printed here.
import { parseArgs } from "node:util";

export const MODES = ["quick", "demo", "stress"] as const;
export type Mode = (typeof MODES)[number];

export interface ClientHeader {
  name: string;
  /** Rotated across requests, e.g. a few fake users. */
  values: string[];
}

export interface TrafficOptions {
  url: string;
  mode: Mode;
  concurrency: number;
  /** Requests started per second; undefined = as fast as `concurrency` allows. */
  ratePerSecond: number | undefined;
  /** Stop starting requests after this long; undefined = no time limit (then `requests` bounds the run). */
  durationMs: number | undefined;
  /** Stop after this many requests; undefined = no count limit (then `durationMs` bounds the run). */
  requests: number | undefined;
  /** Model names to use; undefined = discover from GET /api/tags. */
  models: string[] | undefined;
  clientHeaders: ClientHeader[];
  seed: number;
  timeoutMs: number;
  /** num_predict / max_tokens per request, so that a run's length does not depend on how talkative a model is. */
  maxTokens: number;
  /** Send an unknown model and abort a stream now and then, so error panels have something to show. */
  faults: boolean;
  /** Prompt set directory; undefined = the curated set next to this file. */
  promptsDir: string | undefined;
}

export type ParsedArgs =
  | { kind: "run"; options: TrafficOptions }
  | { kind: "help" }
  | { kind: "error"; reason: string };

export const DEFAULT_URL = "http://localhost:11434";

/** Open WebUI's user header with a few made-up users, so "top clients" panels have something to rank. */
export const DEFAULT_CLIENT_HEADER: ClientHeader = {
  name: "X-OpenWebUI-User-Name",
  values: ["alice", "bob", "chen", "dana", "emeka", "farah"],
};

const MODE_DEFAULTS: Readonly<
  Record<
    Mode,
    Pick<
      TrafficOptions,
      "concurrency" | "ratePerSecond" | "durationMs" | "requests" | "faults"
    >
  >
> = {
  quick: {
    concurrency: 4,
    ratePerSecond: undefined,
    durationMs: undefined,
    requests: 30,
    faults: true,
  },
  demo: {
    concurrency: 8,
    ratePerSecond: 2,
    durationMs: 5 * 60_000,
    requests: undefined,
    faults: true,
  },
  stress: {
    concurrency: 32,
    ratePerSecond: undefined,
    durationMs: 60_000,
    requests: undefined,
    faults: false,
  },
};

export const USAGE = `Usage: npm run traffic -- [options]      (or: make traffic MODE=demo DURATION=2m …)

Sends realistic load through the proxy (or any Ollama-compatible server): native chat and generate, streaming
and not, embeddings, and /v1/chat/completions through the OpenAI SDK, with prompts from a curated set.

  --url URL                 server to load (default $TRAFFIC_URL or ${DEFAULT_URL})
  --mode quick|demo|stress  quick: 30 requests, then exit (default)
                            demo: steady mixed load at 2 req/s for 5 minutes, with a few injected errors
                            stress: 32 concurrent requests for 60 seconds
  --concurrency N           requests in flight at most
  --rate R                  requests started per second (0 = as fast as concurrency allows)
  --duration D              stop after D (e.g. 90s, 5m, 1h; a bare number is seconds)
  --requests N              stop after N requests
  --models a,b              models to use (default: discovered from GET /api/tags; embedding models are
                            told apart by their capabilities or name)
  --client-header NAME=V1,V2  send header NAME with values rotating per request (repeatable;
                            default ${DEFAULT_CLIENT_HEADER.name}=${DEFAULT_CLIENT_HEADER.values.join(",")})
  --no-client-header        send no attribution header
  --faults / --no-faults    include an unknown model and an aborted stream now and then
                            (default: on for quick and demo, off for stress)
  --seed N                  replay the same workload (default: random, printed in the summary)
  --timeout D               per-request timeout (default 120s)
  --max-tokens N            cap each answer at N tokens (default 256)
  --prompts DIR             prompt set directory (default tools/traffic/prompts)
  -h, --help                this text

Ctrl-C stops early and still prints the summary. Exits 1 when every request failed.`;

/** "250ms", "90s", "5m", "1h", "1.5m" or a bare number of seconds → milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  const ms =
    value *
    { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as "ms" | "s" | "m" | "h"];
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

function parseCount(text: string, what: string, min: number): number | string {
  const value = Number(text);
  if (
    !/^\d+$/.test(text.trim()) ||
    !Number.isSafeInteger(value) ||
    value < min
  ) {
    return `${what} must be an integer >= ${min}, got "${text}"`;
  }
  return value;
}

// RFC 9110 token characters; Node rejects anything else in a header name.
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseClientHeader(text: string): ClientHeader | string {
  const eq = text.indexOf("=");
  if (eq <= 0)
    return `--client-header expects NAME=VALUE[,VALUE…], got "${text}"`;
  const name = text.slice(0, eq).trim();
  const values = text
    .slice(eq + 1)
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
  if (!HEADER_NAME.test(name))
    return `--client-header: "${name}" is not a valid header name`;
  if (values.length === 0) return `--client-header ${name}: no value given`;
  if (values.some((value) => /[\r\n\0]/.test(value)))
    return `--client-header ${name}: values must be one line`;
  return { name, values };
}

function parseUrl(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.href.replace(/\/+$/, "");
  } catch {
    return undefined;
  }
}

/**
 * Parses argv (without node and the script) and the environment (only TRAFFIC_URL is read). `randomSeed` is
 * used when --seed is absent, so that this stays pure.
 */
export function parseTrafficArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  randomSeed: number,
): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: "string" },
        mode: { type: "string" },
        concurrency: { type: "string" },
        rate: { type: "string" },
        duration: { type: "string" },
        requests: { type: "string" },
        models: { type: "string" },
        "client-header": { type: "string", multiple: true },
        "no-client-header": { type: "boolean" },
        faults: { type: "boolean" },
        "no-faults": { type: "boolean" },
        seed: { type: "string" },
        timeout: { type: "string" },
        "max-tokens": { type: "string" },
        prompts: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    return {
      kind: "error",
      reason: error instanceof Error ? error.message : String(error),
    };
  }
  if (values.help === true) return { kind: "help" };
  const fail = (reason: string): ParsedArgs => ({ kind: "error", reason });

  const mode = values.mode ?? "quick";
  if (!(MODES as readonly string[]).includes(mode)) {
    return fail(`--mode must be one of ${MODES.join(", ")}, got "${mode}"`);
  }
  const defaults = MODE_DEFAULTS[mode as Mode];
  const options: TrafficOptions = {
    url: DEFAULT_URL,
    mode: mode as Mode,
    ...defaults,
    models: undefined,
    clientHeaders: [DEFAULT_CLIENT_HEADER],
    seed: randomSeed >>> 0,
    timeoutMs: 120_000,
    maxTokens: 256,
    promptsDir: undefined,
  };

  const rawUrl = values.url ?? env.TRAFFIC_URL;
  if (rawUrl !== undefined && rawUrl !== "") {
    const url = parseUrl(rawUrl);
    if (url === undefined)
      return fail(`--url must be an http(s) URL, got "${rawUrl}"`);
    options.url = url;
  }
  if (values.concurrency !== undefined) {
    const n = parseCount(values.concurrency, "--concurrency", 1);
    if (typeof n === "string") return fail(n);
    options.concurrency = n;
  }
  if (values.rate !== undefined) {
    const rate = Number(values.rate);
    if (values.rate.trim() === "" || !Number.isFinite(rate) || rate < 0) {
      return fail(
        `--rate must be a number of requests per second >= 0, got "${values.rate}"`,
      );
    }
    options.ratePerSecond = rate === 0 ? undefined : rate;
  }
  if (values.duration !== undefined) {
    const ms = parseDuration(values.duration);
    if (ms === undefined)
      return fail(
        `--duration must look like 90s, 5m or 1h, got "${values.duration}"`,
      );
    options.durationMs = ms;
    // An explicit duration replaces quick mode's count limit unless --requests is also given.
    if (values.requests === undefined) options.requests = undefined;
  }
  if (values.requests !== undefined) {
    const n = parseCount(values.requests, "--requests", 1);
    if (typeof n === "string") return fail(n);
    options.requests = n;
    if (values.duration === undefined) options.durationMs = undefined;
  }
  if (values.models !== undefined) {
    const models = values.models
      .split(",")
      .map((name) => name.trim())
      .filter((name) => name !== "");
    if (models.length === 0)
      return fail("--models needs at least one model name");
    options.models = models;
  }
  if (values["no-client-header"] === true) {
    if (values["client-header"] !== undefined)
      return fail("--client-header and --no-client-header conflict");
    options.clientHeaders = [];
  } else if (values["client-header"] !== undefined) {
    const headers: ClientHeader[] = [];
    for (const text of values["client-header"]) {
      const header = parseClientHeader(text);
      if (typeof header === "string") return fail(header);
      headers.push(header);
    }
    options.clientHeaders = headers;
  }
  if (values.faults === true && values["no-faults"] === true)
    return fail("--faults and --no-faults conflict");
  if (values.faults === true) options.faults = true;
  if (values["no-faults"] === true) options.faults = false;
  if (values.seed !== undefined) {
    const n = parseCount(values.seed, "--seed", 0);
    if (typeof n === "string") return fail(n);
    options.seed = n >>> 0;
  }
  if (values.timeout !== undefined) {
    const ms = parseDuration(values.timeout);
    if (ms === undefined)
      return fail(
        `--timeout must look like 30s or 2m, got "${values.timeout}"`,
      );
    options.timeoutMs = ms;
  }
  if (values["max-tokens"] !== undefined) {
    const n = parseCount(values["max-tokens"], "--max-tokens", 1);
    if (typeof n === "string") return fail(n);
    options.maxTokens = n;
  }
  if (values.prompts !== undefined) options.promptsDir = values.prompts;
  return { kind: "run", options };
}
