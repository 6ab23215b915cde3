// Settings of access control and fair use, parsed from the environment once (same rules and message style as
// config.ts: empty means unset, one line per bad variable naming the value and what is expected). Files named
// here (keys, aliases, prices) are read and validated now, so a bad file stops the start instead of a request.
import { readFileSync } from "node:fs";
import { z } from "zod";
import {
  bool,
  ConfigError,
  intAtLeast,
  nonNegativeInt,
  parseSettings,
} from "../settings.ts";
import { AliasError, parseAliases } from "../models/aliases.ts";
import type { KeyEntry } from "./keys.ts";
import { parseKeysFile } from "./keys-file.ts";
import type { ClientLimits } from "./limits.ts";
import { parsePricing, type PriceTable } from "../models/pricing.ts";

export type RedisErrorMode = "open" | "closed";

export interface AccessConfig {
  /** Keys are on when set; then every forwarded request needs a key. */
  readonly keysFile: string | undefined;
  /** The keys read at start (empty when keysFile is unset). */
  readonly keys: readonly KeyEntry[];
  readonly adminRoutesOpen: boolean;
  readonly metricsClientLabel: boolean;
  /** Per key (or per client IP when keys are off), unless the key sets its own; 0 = unlimited. */
  readonly defaultLimits: ClientLimits;
  /** Inference requests in flight to Ollama at once, over all clients (and all replicas with Redis); 0 = no limit. */
  readonly maxConcurrent: number;
  readonly queueMax: number;
  readonly queueTimeoutMs: number;
  readonly queuePollMs: number;
  readonly leaseTtlMs: number;
  readonly redisTimeoutMs: number;
  readonly onRedisError: RedisErrorMode;
  /** MODEL_ALIASES: the file to re-read on reload, or undefined when inline or unset. */
  readonly aliasesFile: string | undefined;
  readonly aliases: ReadonlyMap<string, string>;
  readonly pricingFile: string | undefined;
  readonly pricing: PriceTable | undefined;
}

const path = z.string().trim().optional();

const Env = z.object({
  API_KEYS_FILE: path,
  ADMIN_ROUTES_OPEN: bool("ADMIN_ROUTES_OPEN").default(false),
  METRICS_CLIENT_LABEL: bool("METRICS_CLIENT_LABEL").default(false),
  LIMIT_REQUESTS_PER_MINUTE: nonNegativeInt("requests (0 = unlimited)").default(
    0,
  ),
  LIMIT_TOKENS_PER_DAY: nonNegativeInt("tokens (0 = unlimited)").default(0),
  LIMIT_CONCURRENT: nonNegativeInt("requests (0 = unlimited)").default(0),
  MAX_CONCURRENT: nonNegativeInt("requests (0 = no global limit)").default(50),
  QUEUE_MAX: nonNegativeInt("requests (0 = refuse at once when full)").default(
    500,
  ),
  QUEUE_TIMEOUT_MS: intAtLeast("milliseconds", 1).default(30_000),
  LIMITS_LEASE_TTL_MS: intAtLeast("milliseconds", 100).default(30_000),
  LIMITS_REDIS_TIMEOUT_MS: intAtLeast("milliseconds", 1).default(250),
  LIMITS_ON_REDIS_ERROR: z
    .enum(["open", "closed"], { error: "expected open or closed" })
    .default("open"),
  MODEL_ALIASES: z.string().trim().optional(),
  PRICING_FILE: path,
});

/** The variables this module reads; the lead's README and .env.example list the same set. */
export const ACCESS_ENV_VARS = Object.freeze(Object.keys(Env.shape));

function readText(file: string): { text: string } | { problem: string } {
  try {
    return { text: readFileSync(file, "utf8") };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    return { problem: `cannot read the file (${code})` };
  }
}

/** Keys file → keys, or one problem line (the file's own problems joined with "; "). */
export function loadKeys(
  file: string,
): { ok: true; keys: readonly KeyEntry[] } | { ok: false; problem: string } {
  const read = readText(file);
  if ("problem" in read) return { ok: false, problem: read.problem };
  const parsed = parseKeysFile(read.text);
  return parsed.ok
    ? { ok: true, keys: parsed.keys }
    : { ok: false, problem: parsed.problems.join("; ") };
}

/** MODEL_ALIASES: inline `alias=model,…` when it contains "=", otherwise the path of a YAML/JSON file. */
export function loadAliases(
  value: string,
):
  | { ok: true; aliases: Map<string, string>; file: string | undefined }
  | { ok: false; problem: string } {
  const inline = value.includes("=");
  let text = value;
  if (!inline) {
    const read = readText(value);
    if ("problem" in read) return { ok: false, problem: read.problem };
    text = read.text;
  }
  try {
    return {
      ok: true,
      aliases: parseAliases(text),
      file: inline ? undefined : value,
    };
  } catch (error) {
    if (error instanceof AliasError)
      return { ok: false, problem: error.message };
    throw error;
  }
}

export function loadPricing(
  file: string,
): { ok: true; table: PriceTable } | { ok: false; problem: string } {
  const read = readText(file);
  if ("problem" in read) return { ok: false, problem: read.problem };
  const parsed = parsePricing(read.text);
  return parsed.ok
    ? { ok: true, table: parsed.table }
    : { ok: false, problem: parsed.reason };
}

/**
 * Parses the access-control variables (ACCESS_ENV_VARS) and reads the files they name.
 * Throws ConfigError with one line per bad variable: `NAME="value": expected …`.
 */
export function loadAccessConfig(env: NodeJS.ProcessEnv): AccessConfig {
  const raw = parseSettings(Env, env);
  const shown = (key: keyof typeof raw) => JSON.stringify(env[key] ?? "");
  const problems: string[] = [];

  let keys: readonly KeyEntry[] = [];
  if (raw.API_KEYS_FILE) {
    const loaded = loadKeys(raw.API_KEYS_FILE);
    if (loaded.ok) keys = loaded.keys;
    else
      problems.push(
        `API_KEYS_FILE=${shown("API_KEYS_FILE")}: ${loaded.problem}`,
      );
  }
  let aliases: ReadonlyMap<string, string> = new Map();
  let aliasesFile: string | undefined;
  if (raw.MODEL_ALIASES) {
    const loaded = loadAliases(raw.MODEL_ALIASES);
    if (loaded.ok) {
      aliases = loaded.aliases;
      aliasesFile = loaded.file;
    } else {
      problems.push(
        `MODEL_ALIASES=${shown("MODEL_ALIASES")}: expected alias=model pairs or a YAML/JSON file of them: ${loaded.problem}`,
      );
    }
  }
  let pricing: PriceTable | undefined;
  if (raw.PRICING_FILE) {
    const loaded = loadPricing(raw.PRICING_FILE);
    if (loaded.ok) pricing = loaded.table;
    else
      problems.push(`PRICING_FILE=${shown("PRICING_FILE")}: ${loaded.problem}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    keysFile: raw.API_KEYS_FILE || undefined,
    keys,
    adminRoutesOpen: raw.ADMIN_ROUTES_OPEN,
    metricsClientLabel: raw.METRICS_CLIENT_LABEL,
    defaultLimits: Object.freeze({
      requestsPerMinute: raw.LIMIT_REQUESTS_PER_MINUTE,
      tokensPerDay: raw.LIMIT_TOKENS_PER_DAY,
      concurrent: raw.LIMIT_CONCURRENT,
    }),
    maxConcurrent: raw.MAX_CONCURRENT,
    queueMax: raw.QUEUE_MAX,
    queueTimeoutMs: raw.QUEUE_TIMEOUT_MS,
    queuePollMs: 50,
    leaseTtlMs: raw.LIMITS_LEASE_TTL_MS,
    redisTimeoutMs: raw.LIMITS_REDIS_TIMEOUT_MS,
    onRedisError: raw.LIMITS_ON_REDIS_ERROR,
    aliasesFile,
    aliases,
    pricingFile: raw.PRICING_FILE || undefined,
    pricing,
  });
}
