// The sampling parameters a request sets, read from either family's body: Ollama puts them under `options`
// (num_predict, temperature, top_p, top_k, seed, stop, frequency/presence penalties), OpenAI and Anthropic at the
// top level (max_tokens or max_completion_tokens or max_output_tokens, temperature, top_p, top_k, seed, stop or
// stop_sequences). Pure; only what is set, with the right type, is kept.
import { isObject } from "./json-fields.ts";
import type { GenerationParams, Route } from "./types.ts";

const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

function stops(value: unknown): string[] | undefined {
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) return undefined;
  const kept = value.filter((item): item is string => typeof item === "string");
  return kept.length > 0 ? kept.slice(0, 16) : undefined;
}

export function generationParams(
  route: Route,
  json: Record<string, unknown>,
): GenerationParams | undefined {
  const source =
    route.api === "ollama"
      ? isObject(json.options)
        ? json.options
        : undefined
      : json;
  if (!source) return undefined;
  const params: Record<string, unknown> = {
    maxTokens:
      route.api === "ollama"
        ? num(source.num_predict)
        : (num(source.max_completion_tokens) ??
          num(source.max_tokens) ??
          num(source.max_output_tokens)),
    temperature: num(source.temperature),
    topP: num(source.top_p),
    topK: num(source.top_k),
    seed: num(source.seed),
    stopSequences: stops(source.stop ?? source.stop_sequences),
    frequencyPenalty: num(source.frequency_penalty),
    presencePenalty: num(source.presence_penalty),
  };
  for (const key of Object.keys(params))
    if (params[key] === undefined) delete params[key];
  return Object.keys(params).length > 0 ? params : undefined;
}
