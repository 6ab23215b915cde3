// Typed reads of fields from parsed JSON whose shape the upstream does not guarantee. Pure.

export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export const num = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined;

/** Tool calls of either wire shape (`{function: {name, arguments}}` or flat), rendered as `name(arguments)`. */
export function toolCallTexts(calls: unknown): string[] | undefined {
  if (!Array.isArray(calls) || calls.length === 0) return undefined;
  const texts: string[] = [];
  for (const call of calls) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function : call;
    // Ollama sends arguments as an object, OpenAI as a JSON string (reference/ollama-api.md §3.2, §7.2).
    const args =
      typeof fn.arguments === "string"
        ? fn.arguments
        : JSON.stringify(fn.arguments ?? {});
    texts.push(`${typeof fn.name === "string" ? fn.name : ""}(${args})`);
  }
  return texts.length > 0 ? texts : undefined;
}
