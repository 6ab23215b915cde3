// The one reader of the environment: loadSettings() parses every setting once (the proxy's here, access
// control's in access/access-config.ts, tracing's in tracing/settings.ts), fails fast with one line per bad
// variable, and returns frozen configs.
// OLLAMA_HOST is deliberately not read: Ollama uses it to choose its own bind address.
import proxyaddr from "proxy-addr";
import { z } from "zod";
import {
  bool,
  ConfigError,
  isUrl,
  nonNegativeInt,
  parseSettings,
  positiveInt,
} from "./settings.ts";
import { loadAccessConfig, type AccessConfig } from "./access/access-config.ts";
import {
  loadTracingSettings,
  type TracingSettings,
} from "./tracing/settings.ts";
import { isValidAllowedHost } from "./http/allowed-hosts.ts";
import { backendsFrom, type BackendSpec } from "./backends/settings.ts";

const LOG_LEVELS = [
  "fatal",
  "error",
  "warn",
  "info",
  "debug",
  "trace",
  "silent",
] as const;
const CAPTURE_MODES = ["full", "truncate", "none"] as const;

const port = (what: string) =>
  z.coerce
    .number({ error: `expected ${what}: an integer port 1-65535` })
    .int({ error: `expected ${what}: an integer port 1-65535` })
    .min(1, { error: `expected ${what}: an integer port 1-65535` })
    .max(65535, { error: `expected ${what}: an integer port 1-65535` });

const httpUrl = (what: string) =>
  z
    .string()
    .trim()
    .refine((value) => isUrl(value, ["http:", "https:"], true), {
      error: `expected ${what}: an http(s) URL such as http://127.0.0.1:11435`,
    })
    .transform((value) => value.replace(/\/+$/, ""));

const redisUrl = z
  .string()
  .trim()
  .refine((value) => isUrl(value, ["redis:", "rediss:"], false), {
    error:
      "expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379",
  });

const optionalString = z
  .string()
  .trim()
  .transform((value) => (value === "" ? undefined : value))
  .optional();

/** Header names are matched lower-case, as Node exposes them. */
const headerName = z
  .string()
  .trim()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]*$/, {
    error: "expected an HTTP header name",
  })
  .transform((value) => (value === "" ? undefined : value.toLowerCase()))
  .optional();

/** REDACT_PATTERNS: a JSON object of name → regular expression, added to (or replacing) the defaults. */
const redactPatterns = z
  .string()
  .trim()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === "") return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      ctx.addIssue({
        code: "custom",
        message: 'expected a JSON object like {"name":"regex"}',
      });
      return z.NEVER;
    }
    if (
      typeof parsed !== "object" ||
      parsed === null ||
      Array.isArray(parsed)
    ) {
      ctx.addIssue({
        code: "custom",
        message: 'expected a JSON object like {"name":"regex"}',
      });
      return z.NEVER;
    }
    const patterns: Record<string, string> = {};
    for (const [name, source] of Object.entries(parsed)) {
      if (!/^[A-Za-z0-9_-]+$/.test(name) || typeof source !== "string") {
        ctx.addIssue({
          code: "custom",
          message: `pattern "${name}": names are [A-Za-z0-9_-]+, values strings`,
        });
        return z.NEVER;
      }
      try {
        new RegExp(source, "g");
      } catch (error) {
        ctx.addIssue({
          code: "custom",
          message: `pattern "${name}" is not a valid regex: ${String(error)}`,
        });
        return z.NEVER;
      }
      patterns[name] = source;
    }
    return patterns;
  });

/**
 * A comma-separated list, trimmed, empty entries dropped; `problemOf` names what is wrong with the list (one
 * message for the whole setting) or returns undefined.
 */
const commaList = (problemOf: (entries: string[]) => string | undefined) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value, ctx) => {
      const entries = (value ?? "")
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry !== "");
      const problem = problemOf(entries);
      if (problem === undefined) return entries;
      ctx.issues.push({ code: "custom", input: value, message: problem });
      return z.NEVER;
    });

/** TRUSTED_PROXIES: addresses, CIDRs or proxy-addr names (loopback, linklocal, uniquelocal). */
const trustedProxies = commaList((entries) => {
  // proxy-addr's own compiler is the judge of what it accepts; its throw becomes a message naming the setting.
  try {
    proxyaddr.compile(entries);
    return undefined;
  } catch (error) {
    return `expected addresses, CIDRs or loopback/linklocal/uniquelocal (${(error as Error).message})`;
  }
});

/** ALLOWED_HOSTS: names, `*.`-suffixes or IPs served besides the local ones; `*` = any. */
const allowedHosts = commaList((entries) => {
  const bad = entries.filter((entry) => !isValidAllowedHost(entry));
  return bad.length > 0
    ? `expected host names, *.suffixes, IPs or * (not ${bad.join(", ")})`
    : undefined;
});

/** ANALYTICS_TOKEN: the bearer token of the analytics API when API keys are off (it serves every prompt). */
const analyticsToken = optionalString.refine(
  (value) => value === undefined || value.length >= 16,
  {
    error: "expected at least 16 characters (make up generates one)",
  },
);

const Env = z.object({
  PROXY_PORT: port("PROXY_PORT").default(11434),
  PROXY_HOST: z
    .string()
    .trim()
    .min(1, { error: "expected a bind address" })
    // Like Ollama's own default: only this machine. The image sets 0.0.0.0 (Docker publishes the port).
    .default("127.0.0.1"),
  OLLAMA_URL: httpUrl("the Ollama base URL").default("http://127.0.0.1:11435"),
  // Several Ollama servers (backends/settings.ts); when set, OLLAMA_URL is not used.
  OLLAMA_BACKENDS: optionalString,
  BACKEND_AFFINITY: z
    .enum(["conversation", "off"], { error: "expected conversation or off" })
    .default("conversation"),
  AFFINITY_HEADER: headerName,
  METRICS_PORT: port("METRICS_PORT").optional(),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(", ")}` })
    .default("info"),
  UPSTREAM_TIMEOUT_MS: nonNegativeInt(
    "milliseconds (0 = no idle timeout)",
  ).default(0),
  SHUTDOWN_GRACE_MS: nonNegativeInt("milliseconds").default(30_000),
  POLL_INTERVAL_MS: positiveInt("milliseconds").default(15_000),
  INJECT_STREAM_USAGE: bool("INJECT_STREAM_USAGE").default(true),
  MAX_BODY_BYTES: positiveInt("bytes").default(100 * 1024 * 1024),
  CLIENT_HEADERS_TIMEOUT_MS: positiveInt("milliseconds").default(60_000),
  CLIENT_REQUEST_TIMEOUT_MS: positiveInt("milliseconds").default(300_000),

  // Analytics records (issue: records reach Loki without loss).
  REDIS_URL: redisUrl.optional(),
  LOKI_URL: httpUrl("the Loki base URL").optional(),
  LOKI_ENV: z.string().trim().min(1).default("dev"),
  LOKI_TENANT_ID: optionalString,
  LOKI_USERNAME: optionalString,
  LOKI_PASSWORD: optionalString,
  LOKI_MAX_LINE_BYTES: positiveInt("bytes").default(250_000),
  LOKI_BATCH_MAX_RECORDS: positiveInt("records").default(1000),
  LOKI_BATCH_MAX_BYTES: positiveInt("bytes").default(1024 * 1024),
  LOKI_BATCH_WAIT_MS: positiveInt("milliseconds").default(1000),
  LOKI_PUSH_TIMEOUT_MS: positiveInt("milliseconds").default(10_000),
  LOKI_RETRY_MAX_MS: positiveInt("milliseconds").default(30_000),
  ANALYTICS_OUTBOX_MAX: positiveInt("records").default(1_000_000),
  ANALYTICS_MEMORY_MAX: positiveInt("records").default(100_000),
  ANALYTICS_CLAIM_IDLE_MS: positiveInt("milliseconds").default(60_000),
  ANALYTICS_CONSUMER: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, {
      error: "expected a name of letters, digits and ._:-",
    })
    .optional(),
  CAPTURE_PROMPTS: z
    .enum(CAPTURE_MODES, { error: "expected full, truncate or none" })
    .default("truncate"),
  CAPTURE_RESPONSES: z
    .enum(CAPTURE_MODES, { error: "expected full, truncate or none" })
    .default("truncate"),
  CAPTURE_MAX_CHARS: positiveInt("characters").default(8192),
  REDACT_DEFAULTS: bool("REDACT_DEFAULTS").default(true),
  REDACT_PATTERNS: redactPatterns,
  CLIENT_HEADER: headerName,
  TRUSTED_PROXIES: trustedProxies,
  ALLOWED_HOSTS: allowedHosts,
  ANALYTICS_TOKEN: analyticsToken,
});

type RawConfig = z.infer<typeof Env>;

/** Every variable this module reads (the README's configuration table lists each one). */
export const CONFIG_ENV_VARS: readonly string[] = Object.keys(Env.shape);

export type CaptureMode = (typeof CAPTURE_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly port: number;
  readonly host: string;
  /** The Ollama servers: OLLAMA_BACKENDS, or OLLAMA_URL as one backend named "default". */
  readonly backends: readonly BackendSpec[];
  /** A conversation's turns stay on one backend; AFFINITY_HEADER (lower case) names it when a client says. */
  readonly affinity: {
    readonly on: boolean;
    readonly header: string | undefined;
  };
  readonly metricsPort: number | undefined;
  readonly logLevel: LogLevel;
  readonly upstreamTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly pollIntervalMs: number;
  readonly injectStreamUsage: boolean;
  readonly maxBodyBytes: number;
  /** A client must send its request headers within this time (slow-header clients are cut). */
  readonly clientHeadersTimeoutMs: number;
  /** …and its whole request, body included, within this time. Never applies to the response stream. */
  readonly clientRequestTimeoutMs: number;
  readonly redisUrl: string | undefined;
  readonly loki: {
    readonly url: string | undefined;
    readonly env: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly maxLineBytes: number;
    readonly batchMaxRecords: number;
    readonly batchMaxBytes: number;
    readonly batchWaitMs: number;
    readonly pushTimeoutMs: number;
    /** Ceiling of the exponential backoff between failed pushes: how soon records flow after an outage. */
    readonly retryMaxMs: number;
  };
  readonly outboxMax: number;
  readonly memoryMax: number;
  /** A dead replica's unacknowledged records are taken over after this long. */
  readonly claimIdleMs: number;
  /** This replica's consumer name in the stream's group; undefined = hostname-pid. */
  readonly consumerName: string | undefined;
  readonly capture: {
    readonly prompts: CaptureMode;
    readonly responses: CaptureMode;
    readonly maxChars: number;
  };
  readonly redact: {
    readonly defaults: boolean;
    readonly patterns: Readonly<Record<string, string>>;
  };
  readonly clientHeader: string | undefined;
  readonly trustedProxies: readonly string[];
  /** Host names served besides the local ones (DNS-rebinding guard); ["*"] turns the check off. */
  readonly allowedHosts: readonly string[];
  /** Bearer token of the analytics API when API keys are off; without it (and keys off) the API is closed. */
  readonly analyticsToken: string | undefined;
}

function lokiHeaders(raw: RawConfig): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw.LOKI_TENANT_ID) headers["X-Scope-OrgID"] = raw.LOKI_TENANT_ID;
  if (raw.LOKI_USERNAME || raw.LOKI_PASSWORD) {
    const token = Buffer.from(
      `${raw.LOKI_USERNAME ?? ""}:${raw.LOKI_PASSWORD ?? ""}`,
    ).toString("base64");
    headers.Authorization = `Basic ${token}`;
  }
  return headers;
}

/**
 * Parses the environment. Empty strings count as unset, as compose passes `VAR=` for `${VAR:-}`.
 * Throws ConfigError whose `problems` hold one line per invalid variable: name, value and what is expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = parseSettings(Env, env);
  if (raw.METRICS_PORT !== undefined && raw.METRICS_PORT === raw.PROXY_PORT) {
    throw new ConfigError([
      `METRICS_PORT=${JSON.stringify(String(raw.METRICS_PORT))}: expected a port different from PROXY_PORT`,
    ]);
  }
  const config: Config = {
    port: raw.PROXY_PORT,
    host: raw.PROXY_HOST,
    backends: backendsFrom(raw.OLLAMA_URL, raw.OLLAMA_BACKENDS),
    affinity: {
      on: raw.BACKEND_AFFINITY === "conversation",
      header: raw.AFFINITY_HEADER,
    },
    metricsPort: raw.METRICS_PORT,
    logLevel: raw.LOG_LEVEL,
    upstreamTimeoutMs: raw.UPSTREAM_TIMEOUT_MS,
    shutdownGraceMs: raw.SHUTDOWN_GRACE_MS,
    pollIntervalMs: raw.POLL_INTERVAL_MS,
    injectStreamUsage: raw.INJECT_STREAM_USAGE,
    maxBodyBytes: raw.MAX_BODY_BYTES,
    clientHeadersTimeoutMs: raw.CLIENT_HEADERS_TIMEOUT_MS,
    clientRequestTimeoutMs: raw.CLIENT_REQUEST_TIMEOUT_MS,
    redisUrl: raw.REDIS_URL,
    loki: {
      url: raw.LOKI_URL,
      env: raw.LOKI_ENV,
      headers: lokiHeaders(raw),
      maxLineBytes: raw.LOKI_MAX_LINE_BYTES,
      batchMaxRecords: raw.LOKI_BATCH_MAX_RECORDS,
      batchMaxBytes: raw.LOKI_BATCH_MAX_BYTES,
      batchWaitMs: raw.LOKI_BATCH_WAIT_MS,
      pushTimeoutMs: raw.LOKI_PUSH_TIMEOUT_MS,
      retryMaxMs: raw.LOKI_RETRY_MAX_MS,
    },
    outboxMax: raw.ANALYTICS_OUTBOX_MAX,
    memoryMax: raw.ANALYTICS_MEMORY_MAX,
    claimIdleMs: raw.ANALYTICS_CLAIM_IDLE_MS,
    consumerName: raw.ANALYTICS_CONSUMER,
    capture: {
      prompts: raw.CAPTURE_PROMPTS,
      responses: raw.CAPTURE_RESPONSES,
      maxChars: raw.CAPTURE_MAX_CHARS,
    },
    redact: { defaults: raw.REDACT_DEFAULTS, patterns: raw.REDACT_PATTERNS },
    clientHeader: raw.CLIENT_HEADER,
    trustedProxies: raw.TRUSTED_PROXIES,
    allowedHosts: raw.ALLOWED_HOSTS,
    analyticsToken: raw.ANALYTICS_TOKEN,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Every setting of the proxy, read from `env` once: the proxy's own and access control's (access/access-config.ts,
 * which also reads the files they name). Both are parsed, so that one start reports every bad variable; throws
 * ConfigError with all their problems.
 */
export function loadSettings(env: NodeJS.ProcessEnv): {
  config: Config;
  access: AccessConfig;
  tracing: TracingSettings;
} {
  const problems: string[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const config = attempt(() => loadConfig(env));
  const access = attempt(() => loadAccessConfig(env));
  const tracing = attempt(() => loadTracingSettings(env));
  if (!config || !access || !tracing) throw new ConfigError(problems);
  return { config, access, tracing };
}
