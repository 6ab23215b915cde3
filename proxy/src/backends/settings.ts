// OLLAMA_BACKENDS: the Ollama servers behind the proxy, each named, weighted and optionally capped. Pure: the
// string is parsed into specs or a list of problems, each naming the entry at fault.
//   OLLAMA_BACKENDS=gpu1=http://gpu1.lan:11434,gpu2=http://gpu2.lan:11434;weight=2;max_concurrent=4
import { ConfigError, isUrl, shownSetting } from "../settings.ts";

export interface BackendSpec {
  /** The `backend` label and the name a client may pick with X-Ollama-Backend. */
  readonly name: string;
  /** Base URL without a trailing slash. */
  readonly url: string;
  /** Share of the traffic among equally suited backends (in-flight requests are divided by it). */
  readonly weight: number;
  /** Requests sent to it at once; beyond, another backend with the model is chosen or the client gets 503. */
  readonly maxConcurrent: number | undefined;
}

/** The name OLLAMA_URL's single backend gets. */
export const DEFAULT_BACKEND = "default";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const MAX_BACKENDS = 64;

function positiveInteger(text: string): number | undefined {
  if (!/^\d{1,6}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= 1 ? value : undefined;
}

function parseEntry(
  entry: string,
  problems: string[],
): BackendSpec | undefined {
  const shown = JSON.stringify(entry);
  const [head = "", ...options] = entry.split(";").map((part) => part.trim());
  const equals = head.indexOf("=");
  if (equals <= 0) {
    problems.push(`entry ${shown}: expected name=http(s)://host:port`);
    return undefined;
  }
  const name = head.slice(0, equals).trim();
  const url = head.slice(equals + 1).trim();
  let ok = true;
  if (!NAME.test(name)) {
    problems.push(
      `entry ${shown}: the name ${JSON.stringify(name)} must be 1-63 letters, digits, '.', '_' or '-'`,
    );
    ok = false;
  }
  if (!isUrl(url, ["http:", "https:"], true)) {
    problems.push(
      `entry ${shown}: ${JSON.stringify(url)} is not an http(s) URL such as http://gpu1.lan:11434`,
    );
    ok = false;
  }
  let weight = 1;
  let maxConcurrent: number | undefined;
  for (const option of options) {
    const [key = "", value = ""] = option.split("=").map((s) => s.trim());
    const parsed = positiveInteger(value);
    if (key === "weight" && parsed !== undefined) weight = parsed;
    else if (key === "max_concurrent" && parsed !== undefined)
      maxConcurrent = parsed;
    else {
      problems.push(
        `entry ${shown}: option ${JSON.stringify(option)} must be weight=N or max_concurrent=N (N a positive integer)`,
      );
      ok = false;
    }
  }
  return ok
    ? { name, url: url.replace(/\/+$/, ""), weight, maxConcurrent }
    : undefined;
}

/** Parses OLLAMA_BACKENDS; the problems name each bad entry (a duplicate name, a URL that is not http(s), …). */
export function parseBackends(text: string): {
  backends: BackendSpec[];
  problems: string[];
} {
  const problems: string[] = [];
  const backends: BackendSpec[] = [];
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  if (entries.length === 0) problems.push("expected at least one name=url");
  if (entries.length > MAX_BACKENDS)
    problems.push(`expected at most ${MAX_BACKENDS} backends`);
  const seen = new Set<string>();
  for (const entry of entries) {
    const spec = parseEntry(entry, problems);
    if (!spec) continue;
    if (seen.has(spec.name.toLowerCase())) {
      problems.push(
        `entry ${JSON.stringify(entry)}: the name ${JSON.stringify(spec.name)} is used twice`,
      );
      continue;
    }
    seen.add(spec.name.toLowerCase());
    backends.push(spec);
  }
  return { backends, problems };
}

/**
 * The backends of the environment: OLLAMA_BACKENDS when set (it replaces OLLAMA_URL, which compose always sets),
 * else OLLAMA_URL (its default included) as one backend named "default". Throws ConfigError naming
 * OLLAMA_BACKENDS and each bad entry.
 */
export function backendsFrom(
  ollamaUrl: string,
  backendsText: string | undefined,
): BackendSpec[] {
  if (backendsText === undefined)
    return [
      {
        name: DEFAULT_BACKEND,
        url: ollamaUrl,
        weight: 1,
        maxConcurrent: undefined,
      },
    ];
  const { backends, problems } = parseBackends(backendsText);
  const shown = shownSetting("OLLAMA_BACKENDS", backendsText);
  if (problems.length > 0)
    throw new ConfigError(problems.map((problem) => `${shown}: ${problem}`));
  return backends;
}
