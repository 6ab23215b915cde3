// Fuzz run of the request parser and the alias rewrites: thousands of random and mutated bodies, with a fixed
// seed so a failure replays. Properties: nothing throws, output stays bounded, and the rewrites agree with a
// plain JSON.parse model of what they should do.
import { describe, expect, it } from "vitest";
import {
  AliasError,
  isModelKeySpelling,
  parseAliases,
  rewriteModelField,
  writeBackModel,
} from "@proxy/models/aliases.ts";
import { isValidModelName } from "@proxy/models/model-names.ts";
import { normalizeModel } from "@proxy/models/model-names.ts";
import { parseJsonObject, parseRequest } from "@proxy/upstream/request.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

/** mulberry32: small, fast, seeded. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { next, int, pick };
}
type Random = ReturnType<typeof random>;

const ROUTES = [
  ["POST", "/api/generate"],
  ["POST", "/api/chat"],
  ["POST", "/api/embed"],
  ["POST", "/api/embeddings"],
  ["POST", "/v1/chat/completions"],
  ["POST", "/v1/completions"],
  ["POST", "/v1/embeddings"],
  ["POST", "/v1/responses"],
  ["POST", "/v1/messages"],
  ["POST", "/api/pull"],
  ["POST", "/api/copy"],
  ["DELETE", "/api/delete"],
  ["POST", "/api/show"],
].map(([method, path]) => matchRoute(method!, path!));

const KEYS = [
  "model",
  "Model",
  "MODEL",
  "name",
  "source",
  "messages",
  "prompt",
  "system",
  "input",
  "instructions",
  "stream",
  "stream_options",
  "include_usage",
  "keep_alive",
  "images",
  "content",
  "role",
  "type",
  "text",
  "tool_calls",
  "function",
  "arguments",
  "tool_result",
  "tool_use",
  "output",
  "image_url",
  "options",
  "",
];
const STRINGS = [
  "llama3.2",
  "llama3.2:latest",
  "gpt-4o",
  "user",
  "assistant",
  "system",
  "tool_result",
  "tool_use",
  "image_url",
  "input_image",
  "function_call_output",
  "0",
  "0s",
  "5m",
  "",
  "ñ 世界 🦙",
  "\u0000",
  "\\",
  '"',
  ...HOSTILE_VALUES.slice(0, 20),
];

function randomJson(rng: Random, depth: number): unknown {
  const roll = rng.int(depth > 4 ? 6 : 10);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return rng.next() < 0.5;
    case 2:
      return rng.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, rng.int(1e6)]);
    case 3:
    case 4:
    case 5:
      return rng.pick(STRINGS);
    case 6:
    case 7:
      return Array.from({ length: rng.int(5) }, () =>
        randomJson(rng, depth + 1),
      );
    default:
      return randomObject(rng, depth);
  }
}

function randomObject(rng: Random, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = rng.int(6); i > 0; i--)
    object[rng.pick(KEYS)] = randomJson(rng, depth + 1);
  return object;
}

const SEEDS: string[] = [
  '{"model":"llama3.2","prompt":"Why is the sky blue?","stream":false}',
  '{"model":"llama3.2","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi","images":["aGk="]}]}',
  '{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}],"stream":true,"stream_options":{"include_usage":true}}',
  '{"model":"gpt-4o","input":[{"role":"user","content":"hi"},{"type":"function_call_output","output":"42"}],"instructions":"x"}',
  '{"model":"claude","system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"r"}]},{"type":"tool_use","name":"f","input":{"a":1}}]}]}',
  '{"model":"all-minilm","input":["one","two"],"keep_alive":0}',
  '{"name":"llama3.2","insecure":false,"stream":true}',
  '{"source":"a","destination":"b"}',
];

function mutate(rng: Random, text: string): string {
  let out = text;
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const at = rng.int(out.length + 1);
    switch (rng.int(7)) {
      case 0:
        out = out.slice(0, at);
        break;
      case 1:
        out =
          out.slice(0, at) +
          rng.pick([
            '"',
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\u0000",
            "\n",
            "\ud800",
            "é",
          ]) +
          out.slice(at);
        break;
      case 2:
        out = out.slice(0, at) + out.slice(at + 1 + rng.int(8));
        break;
      case 3: {
        const end = at + rng.int(40);
        out = out.slice(0, end) + out.slice(at, end) + out.slice(end);
        break;
      }
      case 4:
        out = `[${out}]`;
        break;
      case 5:
        out = out + rng.pick(["", " garbage", '{"model":"x"}', "\n"]);
        break;
      default:
        out = out.replace(
          '"model"',
          rng.pick(['"Model"', '"mod\\u0065l"', '"model" ', '"models"']),
        );
        break;
    }
  }
  return out;
}

function randomBytes(rng: Random): Buffer {
  return Buffer.from(Array.from({ length: rng.int(200) }, () => rng.int(256)));
}

/** What writeBackModel should produce, computed on the parsed value. */
function replaceModels(
  value: unknown,
  served: string,
  requested: string,
): unknown {
  if (Array.isArray(value))
    return value.map((item) => replaceModels(item, served, requested));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] =
      key === "model" &&
      typeof inner === "string" &&
      (inner === served ||
        normalizeModel(inner).toLowerCase() ===
          normalizeModel(served).toLowerCase())
        ? requested
        : replaceModels(inner, served, requested);
  }
  return out;
}

function* bodies(seed: number, count: number): Generator<Buffer> {
  const rng = random(seed);
  for (let i = 0; i < count; i++) {
    const kind = rng.int(3);
    if (kind === 0) yield Buffer.from(JSON.stringify(randomObject(rng, 0)));
    else if (kind === 1) yield Buffer.from(mutate(rng, rng.pick(SEEDS)));
    else yield randomBytes(rng);
  }
}

describe("request parser fuzz", () => {
  it("parses 6,000 random and mutated bodies on every route without throwing, within bounds", () => {
    const maxChars = 64;
    let parsedObjects = 0;
    const failures: string[] = [];
    for (const body of bodies(0x5eed, 6000)) {
      for (const route of ROUTES) {
        const info = parseRequest(route, body, maxChars);
        // Plain checks in the hot loop (an expect() per iteration is slow); one assertion at the end.
        const bounded =
          info.prompt.length <= maxChars &&
          info.promptChars >= info.prompt.length &&
          info.promptChars <= body.length * 4 + 64 &&
          Number.isInteger(info.images) &&
          info.images >= 0 &&
          typeof info.stream === "boolean" &&
          (info.model === undefined || typeof info.model === "string");
        if (!bounded) failures.push(body.toString("base64"));
      }
      if (parseJsonObject(body)) parsedObjects++;
    }
    expect(failures.slice(0, 3)).toEqual([]);
    // The run must exercise the parser, not only its rejection of garbage.
    expect(parsedObjects).toBeGreaterThan(1500);
  });

  // Found by this fuzz run: nested tool_result content 10,000 deep used to overflow the stack inside the
  // proxy's body handler; rendering now stops at a fixed depth.
  it("survives deeply nested content parts", () => {
    const depth = 10_000;
    const body =
      '{"model":"m","messages":[{"role":"user","content":' +
      '[{"type":"tool_result","content":'.repeat(depth) +
      '"x"' +
      "}]".repeat(depth) +
      "}]}";
    const info = parseRequest(
      matchRoute("POST", "/api/chat"),
      Buffer.from(body),
      64,
    );
    expect(info.prompt.length).toBeLessThanOrEqual(64);
  });
});

describe("alias rewriting fuzz", () => {
  it("writeBackModel never throws and agrees with JSON.parse on 6,000 bodies", () => {
    const rng = random(0xa11a5);
    let changed = 0;
    for (const body of bodies(0xbeef, 6000)) {
      const text = body.toString("utf8");
      const served = rng.pick(["llama3.2", "llama3.2:latest", "gpt-4o", "x"]);
      const out = writeBackModel(text, served, "client-name");
      expect(typeof out).toBe("string");
      // Bounded: each replaced value grows by at most the requested name's length.
      expect(out.length).toBeLessThanOrEqual(text.length * 2 + 16);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue;
      }
      expect(JSON.parse(out)).toEqual(
        replaceModels(parsed, served, "client-name"),
      );
      if (out !== text) changed++;
    }
    expect(changed).toBeGreaterThan(50);
  });

  it("rewriteModelField leaves exactly one model field and every other field as it was", () => {
    for (const body of bodies(0xfeed, 4000)) {
      const json = parseJsonObject(body);
      if (!json) continue;
      const rewritten = rewriteModelField(json, "llama3.1:8b");
      expect(rewritten.model).toBe("llama3.1:8b");
      for (const [key, value] of Object.entries(json)) {
        if (key === "model") continue;
        if (isModelKeySpelling(key)) expect(key in rewritten).toBe(false);
        else expect(rewritten[key]).toEqual(value);
      }
    }
  });

  it("parseAliases either returns valid names or throws AliasError", () => {
    const rng = random(0xa1a5);
    const candidates = [
      ...SEEDS,
      ...Array.from({ length: 3000 }, () => {
        const roll = rng.int(3);
        if (roll === 0)
          return mutate(rng, "gpt-4o=llama3.1:8b,gpt-4o-mini=llama3.2");
        if (roll === 1)
          return mutate(
            rng,
            "aliases:\n  gpt-4o: llama3.1:8b\n  mini: qwen2.5\n",
          );
        return JSON.stringify(randomJson(rng, 0)) ?? "";
      }),
    ];
    let accepted = 0;
    for (const text of candidates) {
      let aliases: Map<string, string>;
      try {
        aliases = parseAliases(text);
      } catch (error) {
        expect(error).toBeInstanceOf(AliasError);
        continue;
      }
      accepted++;
      for (const [name, target] of aliases) {
        expect(isValidModelName(target)).toBe(true);
        // Keys are normalised names: still nothing that could break out of JSON or a header.
        expect(isValidModelName(name)).toBe(true);
      }
    }
    expect(accepted).toBeGreaterThan(100);
  });
});
