// The shared rules of the proxy's two settings parsers (config.ts for the proxy, access/access-config.ts for
// access control and fair use): empty means unset, one line per bad variable naming the value (never a secret's)
// and what is expected, and the zod fields both use. config.ts's loadSettings() is the one reader of the
// environment; it runs both parsers so that one start reports every bad variable.
import { z } from "zod";

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Settings whose value never appears in a message. */
const SECRET_SETTINGS = new Set(["LOKI_PASSWORD", "ANALYTICS_TOKEN"]);

export const nonNegativeInt = (what: string) =>
  z.coerce
    .number({ error: `expected ${what}: a non-negative integer` })
    .int({ error: `expected ${what}: a non-negative integer` })
    .min(0, { error: `expected ${what}: a non-negative integer` });

export const positiveInt = (what: string) =>
  z.coerce
    .number({ error: `expected ${what}: a positive integer` })
    .int({ error: `expected ${what}: a positive integer` })
    .min(1, { error: `expected ${what}: a positive integer` });

export const intAtLeast = (what: string, min: number) =>
  z.coerce
    .number({ error: `expected ${what}: an integer >= ${min}` })
    .int({ error: `expected ${what}: an integer >= ${min}` })
    .min(min, { error: `expected ${what}: an integer >= ${min}` });

/** True when `value` parses as a URL with one of `protocols` (and a host, when `needsHost`). */
export function isUrl(
  value: string,
  protocols: readonly string[],
  needsHost: boolean,
): boolean {
  try {
    const url = new URL(value);
    return (
      protocols.includes(url.protocol) && (!needsHost || url.hostname !== "")
    );
  } catch {
    return false;
  }
}

export const bool = (what: string) =>
  z.stringbool({ error: `expected ${what}: true or false` });

/**
 * Parses the variables `schema` names from `env` (empty strings count as unset, as compose passes `VAR=` for
 * `${VAR:-}`). Throws ConfigError with one line per bad variable: `NAME="value": expected …`.
 */
export function parseSettings<T extends z.ZodRawShape>(
  schema: z.ZodObject<T>,
  env: NodeJS.ProcessEnv,
): z.infer<z.ZodObject<T>> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== "") input[key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "?");
      return `${shownSetting(key, input[key] ?? "")}: ${issue.message}`;
    }),
  );
}

/** `NAME="value"` for a message, the value masked for secrets. */
export function shownSetting(name: string, value: string): string {
  return `${name}=${SECRET_SETTINGS.has(name) ? "***" : JSON.stringify(value)}`;
}
