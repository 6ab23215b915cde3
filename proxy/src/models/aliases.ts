// MODEL_ALIASES: client-facing model names (e.g. gpt-4o for OpenAI-only tools) → the Ollama model that serves
// them, plus the two rewrites: the request body's model, and the response's model written back to the name the
// client asked for. Pure: no I/O. Names are validated when the aliases are read (model-names.ts), so a name can
// never smuggle a quote, a backslash or a CR/LF into a JSON body or a header.
import { isObject } from "../upstream/json-fields.ts";
import { parse as parseYaml } from "yaml";

import { isValidModelName, normalizeModel } from "./model-names.ts";

export class AliasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AliasError";
  }
}

/** `name` or `name:latest` both find an alias defined as `name`. */
const aliasKey = (name: string) => normalizeModel(name).toLowerCase();

function describe(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/**
 * Reads aliases from inline text (`gpt-4o=llama3.1:8b,gpt-4o-mini=llama3.2`) or from a YAML/JSON document
 * (`gpt-4o: llama3.1:8b`, optionally under an `aliases:` key). Keys of the result are normalised, lower-case
 * client names (see resolveAlias); values are the targets as written. Throws AliasError naming the first bad entry.
 */
export function parseAliases(text: string): Map<string, string> {
  const trimmed = text.trim();
  const pairs: Array<[string, unknown]> = [];
  if (trimmed === "") return new Map();
  if (
    !trimmed.includes("\n") &&
    !trimmed.startsWith("{") &&
    trimmed.includes("=")
  ) {
    for (const entry of trimmed.split(",")) {
      if (entry.trim() === "") continue;
      const equals = entry.indexOf("=");
      if (equals === -1)
        throw new AliasError(`${describe(entry.trim())}: expected alias=model`);
      pairs.push([
        entry.slice(0, equals).trim(),
        entry.slice(equals + 1).trim(),
      ]);
    }
  } else {
    let document: unknown;
    try {
      document = parseYaml(trimmed, { uniqueKeys: true });
    } catch (error) {
      const where =
        error instanceof Error &&
        "linePos" in error &&
        Array.isArray(error.linePos)
          ? ` at line ${(error.linePos as Array<{ line: number }>)[0]?.line ?? "?"}`
          : "";
      throw new AliasError(`not valid YAML or JSON${where}`);
    }
    const map =
      isObject(document) &&
      Object.keys(document).length === 1 &&
      isObject(document.aliases)
        ? document.aliases
        : document;
    if (!isObject(map))
      throw new AliasError("expected a mapping of alias: model");
    pairs.push(...Object.entries(map));
  }
  const aliases = new Map<string, string>();
  for (const [name, target] of pairs) {
    if (!isValidModelName(name))
      throw new AliasError(
        `alias ${describe(name)}: expected a model name ([A-Za-z0-9._:/@+-], no spaces, quotes or control characters)`,
      );
    if (typeof target !== "string" || !isValidModelName(target))
      throw new AliasError(
        `alias ${describe(name)}: target ${describe(String(target))} is not a model name`,
      );
    const key = aliasKey(name);
    if (aliases.has(key))
      throw new AliasError(`alias ${describe(name)} is defined twice`);
    aliases.set(key, target);
  }
  for (const [key, target] of aliases)
    if (aliases.has(aliasKey(target)) && aliasKey(target) !== key)
      throw new AliasError(
        `alias target ${describe(target)} is itself an alias: aliases do not chain`,
      );
  return aliases;
}

/** The model an alias stands for, or undefined when `model` is not an alias. */
export function resolveAlias(
  aliases: ReadonlyMap<string, string>,
  model: string,
): string | undefined {
  if (aliases.size === 0 || model === "") return undefined;
  return aliases.get(aliasKey(model));
}

/**
 * The request body with `model` replaced by `target`. Other spellings of the key (`Model`, `MODEL`) are dropped:
 * Ollama's Go decoder matches JSON keys case-insensitively and would let the last one win.
 */
export function rewriteModelField(
  json: Record<string, unknown>,
  target: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let placed = false;
  for (const [key, value] of Object.entries(json)) {
    if (key === "model") {
      out.model = target;
      placed = true;
    } else if (!isModelKeySpelling(key)) {
      out[key] = value;
    }
  }
  if (!placed) out.model = target;
  return out;
}

/** True for a key Go's encoding/json would also read as `model` (case-insensitive, NFKC-folded). */
export function isModelKeySpelling(key: string): boolean {
  return key.normalize("NFKC").toLowerCase() === "model";
}

/** Scans one JSON string token starting at the opening quote; returns the index after the closing quote, or -1. */
function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x5c) i++;
    else if (char === 0x22) return i + 1;
  }
  return -1;
}

function skipSpace(text: string, index: number): number {
  let i = index;
  while (i < text.length) {
    const char = text.charCodeAt(i);
    if (char !== 0x20 && char !== 0x09 && char !== 0x0a && char !== 0x0d) break;
    i++;
  }
  return i;
}

function decodeString(token: string): string | undefined {
  if (!token.includes("\\")) return token.slice(1, -1);
  try {
    const value: unknown = JSON.parse(token);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes the client's model name back into one response unit (an NDJSON line, an SSE event's data, or a whole
 * JSON body): every `"model": "<served>"` member, at any depth (`/v1/responses` and `/v1/messages` nest it), gets
 * `requested` instead. Every other byte is kept, including whitespace and key order. Text that is not JSON is
 * returned unchanged; never throws.
 */
export function writeBackModel(
  unit: string,
  served: string,
  requested: string,
): string {
  // Fast path for the common unit without a model; an escaped key (`"mod\u0065l"`) still gets the full scan.
  if (
    served === requested ||
    (!unit.includes('"model"') && !unit.includes("\\u"))
  )
    return unit;
  const servedKey = aliasKey(served);
  const replacement = JSON.stringify(requested);
  const parts: string[] = [];
  let copiedTo = 0;
  let i = 0;
  while (i < unit.length) {
    if (unit.charCodeAt(i) !== 0x22) {
      i++;
      continue;
    }
    const keyEnd = endOfString(unit, i);
    if (keyEnd === -1) break;
    const afterKey = skipSpace(unit, keyEnd);
    if (unit.charCodeAt(afterKey) !== 0x3a) {
      i = keyEnd; // a string value, not a key
      continue;
    }
    if (decodeString(unit.slice(i, keyEnd)) !== "model") {
      i = afterKey + 1;
      continue;
    }
    const valueStart = skipSpace(unit, afterKey + 1);
    if (unit.charCodeAt(valueStart) !== 0x22) {
      i = valueStart;
      continue;
    }
    const valueEnd = endOfString(unit, valueStart);
    if (valueEnd === -1) break;
    const value = decodeString(unit.slice(valueStart, valueEnd));
    if (
      value !== undefined &&
      (value === served || aliasKey(value) === servedKey)
    ) {
      parts.push(unit.slice(copiedTo, valueStart), replacement);
      copiedTo = valueEnd;
    }
    i = valueEnd;
  }
  if (copiedTo === 0) return unit;
  parts.push(unit.slice(copiedTo));
  return parts.join("");
}

export interface ModelRewriter {
  /** The bytes to send for this chunk: every complete line rewritten, the unfinished line held back. */
  push(chunk: Buffer): Buffer;
  /** The held-back rest, rewritten; call once when the upstream body ends. */
  end(): Buffer;
}

/**
 * A streaming writeBackModel for a response body of any framing Ollama uses: NDJSON lines, SSE lines
 * (`data: {…}`; other SSE lines carry no JSON key) and a one-line JSON body. Holds back at most one unfinished
 * line; a line longer than `maxLineBytes` is passed on unmodified rather than buffered. Bytes only change inside
 * rewritten `"model"` values, so the caller must drop Content-Length.
 */
export function createModelRewriter(
  served: string,
  requested: string,
  maxLineBytes = 8 * 1024 * 1024,
): ModelRewriter {
  let tail: Buffer[] = [];
  let tailBytes = 0;
  let passThrough = false;
  const rewrite = (bytes: Buffer): Buffer => {
    const text = bytes.toString("utf8");
    const out = writeBackModel(text, served, requested);
    return out === text ? bytes : Buffer.from(out, "utf8");
  };
  return {
    push(chunk) {
      const newline = chunk.lastIndexOf(0x0a);
      if (newline === -1) {
        if (passThrough) return chunk;
        tail.push(chunk);
        tailBytes += chunk.length;
        if (tailBytes > maxLineBytes) {
          // Too long to hold: forward it as it is and stop rewriting until the line ends.
          passThrough = true;
          const held = Buffer.concat(tail);
          tail = [];
          tailBytes = 0;
          return held;
        }
        return Buffer.alloc(0);
      }
      const head = chunk.subarray(0, newline + 1);
      const rest = chunk.subarray(newline + 1);
      let out: Buffer;
      if (passThrough) {
        // The oversized line ends in this chunk: pass its end, rewrite the lines after it.
        const firstEnd = head.indexOf(0x0a);
        out = Buffer.concat([
          head.subarray(0, firstEnd + 1),
          rewrite(head.subarray(firstEnd + 1)),
        ]);
        passThrough = false;
      } else {
        out = rewrite(tail.length > 0 ? Buffer.concat([...tail, head]) : head);
      }
      tail = rest.length > 0 ? [Buffer.from(rest)] : [];
      tailBytes = rest.length;
      return out;
    },
    end() {
      if (tail.length === 0) return Buffer.alloc(0);
      const held = Buffer.concat(tail);
      tail = [];
      tailBytes = 0;
      return passThrough ? held : rewrite(held);
    },
  };
}
