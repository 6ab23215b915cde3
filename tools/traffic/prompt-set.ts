// The curated prompt set (tools/traffic/prompts/<category>.json): its shape, its validation, and its loading.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Turn {
  role: "user" | "assistant";
  content: string;
}

/**
 * One curated prompt. Chat sends `system`, then `turns` (earlier exchanges), then `prompt` as the last user
 * message; generate sends `prompt` with `system`.
 */
export interface PromptEntry {
  category: string;
  prompt: string;
  system?: string;
  turns?: Turn[];
}

export const PROMPTS_DIR = fileURLToPath(
  new URL("./prompts/", import.meta.url),
);

export type ParseResult<T> =
  { ok: true; value: T } | { ok: false; reason: string };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const nonEmpty = (value: unknown): value is string =>
  typeof value === "string" && value.trim() !== "";

function parseEntry(raw: unknown, where: string): ParseResult<PromptEntry> {
  if (!isObject(raw)) return { ok: false, reason: `${where}: not an object` };
  const extra = Object.keys(raw).filter(
    (key) => !["category", "prompt", "system", "turns"].includes(key),
  );
  if (extra.length > 0)
    return { ok: false, reason: `${where}: unknown field ${extra.join(", ")}` };
  if (!nonEmpty(raw.category))
    return {
      ok: false,
      reason: `${where}: category must be a non-empty string`,
    };
  if (!nonEmpty(raw.prompt))
    return { ok: false, reason: `${where}: prompt must be a non-empty string` };
  const entry: PromptEntry = { category: raw.category, prompt: raw.prompt };
  if (raw.system !== undefined) {
    if (!nonEmpty(raw.system))
      return {
        ok: false,
        reason: `${where}: system must be a non-empty string`,
      };
    entry.system = raw.system;
  }
  if (raw.turns !== undefined) {
    if (
      !Array.isArray(raw.turns) ||
      raw.turns.length === 0 ||
      raw.turns.length % 2 !== 0
    ) {
      return {
        ok: false,
        reason: `${where}: turns must be user/assistant pairs`,
      };
    }
    const turns: Turn[] = [];
    for (const [i, turn] of raw.turns.entries()) {
      const role = i % 2 === 0 ? "user" : "assistant";
      if (!isObject(turn) || turn.role !== role || !nonEmpty(turn.content)) {
        return {
          ok: false,
          reason: `${where}: turns[${i}] must be {"role":"${role}","content":"…"}`,
        };
      }
      turns.push({ role, content: turn.content });
    }
    entry.turns = turns;
  }
  return { ok: true, value: entry };
}

/** Validates one file's JSON (an array of entries, all of `category`). Pure. */
export function parsePromptFile(
  raw: unknown,
  category: string,
): ParseResult<PromptEntry[]> {
  if (!Array.isArray(raw))
    return { ok: false, reason: `${category}: expected a JSON array` };
  const entries: PromptEntry[] = [];
  for (const [i, item] of raw.entries()) {
    const parsed = parseEntry(item, `${category}[${i}]`);
    if (!parsed.ok) return parsed;
    if (parsed.value.category !== category) {
      return {
        ok: false,
        reason: `${category}[${i}]: category "${parsed.value.category}" in the ${category} file`,
      };
    }
    entries.push(parsed.value);
  }
  return { ok: true, value: entries };
}

/** Reads every `<category>.json` in `dir`. Throws with the file and entry on a malformed set. */
export function loadPromptSet(dir: string = PROMPTS_DIR): PromptEntry[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort();
  const entries: PromptEntry[] = [];
  for (const file of files) {
    const parsed = parsePromptFile(
      JSON.parse(readFileSync(join(dir, file), "utf8")),
      file.slice(0, -5),
    );
    if (!parsed.ok)
      throw new Error(`prompt set ${join(dir, file)}: ${parsed.reason}`);
    entries.push(...parsed.value);
  }
  if (entries.length === 0)
    throw new Error(`prompt set ${dir}: no prompts found`);
  return entries;
}

/** The chat messages for an entry: system, earlier turns, then the prompt as the last user message. */
export function toMessages(
  entry: PromptEntry,
): { role: "system" | "user" | "assistant"; content: string }[] {
  return [
    ...(entry.system !== undefined
      ? [{ role: "system" as const, content: entry.system }]
      : []),
    ...(entry.turns ?? []),
    { role: "user" as const, content: entry.prompt },
  ];
}
