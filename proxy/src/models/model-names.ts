// Model names and model globs as they appear in the keys file, MODEL_ALIASES and PRICING_FILE. Pure: no I/O.
// The character set is deliberately narrow: a name that passes can go into a JSON string, a log line, a metric
// label or an error message without escaping surprises (no quotes, backslashes, spaces or control characters).

/** Ollama names are `[host/][namespace/]model[:tag]`, digests use `@`; OpenAI-style names add nothing new. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,254}$/;
const MODEL_GLOB = /^[A-Za-z0-9*?][A-Za-z0-9._:/@+*?-]{0,254}$/;

/** Ollama's canonical short name: a missing tag means `:latest` (reference/ollama-api.md §2.3). */
export function normalizeModel(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") return "";
  const lastSegment = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  return lastSegment.includes(":") ? trimmed : `${trimmed}:latest`;
}

export function isValidModelName(name: string): boolean {
  return MODEL_NAME.test(name);
}

export function isValidModelGlob(pattern: string): boolean {
  return MODEL_GLOB.test(pattern);
}

export type ModelMatcher = (model: string) => boolean;

/**
 * Compiles a glob (`*` any run of characters, `?` one character) against normalised `name:tag` models,
 * case-insensitively because Ollama resolves names case-insensitively. A plain name without a tag means
 * `:latest`, exactly as Ollama reads it (`llama3.2` matches `llama3.2:latest`, not `llama3.2:1b`).
 */
export function compileModelGlob(pattern: string): ModelMatcher {
  const wild = pattern.includes("*") || pattern.includes("?");
  if (!wild) {
    const exact = normalizeModel(pattern).toLowerCase();
    return (model) => normalizeModel(model).toLowerCase() === exact;
  }
  const source = pattern
    .split("")
    .map((char) =>
      char === "*"
        ? ".*"
        : char === "?"
          ? "."
          : char.replace(/[.+^${}()|[\]\\/-]/g, "\\$&"),
    )
    .join("");
  const regex = new RegExp(`^${source}$`, "is");
  return (model) => regex.test(normalizeModel(model));
}

/** True when any of the patterns matches the model. */
export function matchesAnyModel(
  matchers: readonly ModelMatcher[],
  model: string,
): boolean {
  return matchers.some((match) => match(model));
}
