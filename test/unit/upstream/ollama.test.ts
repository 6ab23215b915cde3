// The byte-level fast path for native stream token lines must agree with the full parse (JSON.parse, then
// parseOllamaObject) on every line it accepts, and decline every line it cannot read exactly.
import { describe, expect, it } from "vitest";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";
import {
  parseOllamaObject,
  parseOllamaTokenLine,
} from "@proxy/upstream/ollama.ts";
import type { Op } from "@proxy/upstream/types.ts";

const chatLine = (model: string, content: string) =>
  `{"model":${JSON.stringify(model)},"created_at":"2026-01-02T03:04:05.123456789Z",` +
  `"message":{"role":"assistant","content":${JSON.stringify(content)}},"done":false}`;
const generateLine = (model: string, response: string) =>
  `{"model":${JSON.stringify(model)},"created_at":"2026-01-02T03:04:05.1Z",` +
  `"response":${JSON.stringify(response)},"done":false}`;

function full(op: Op, line: string) {
  return parseOllamaObject(op, JSON.parse(line) as Record<string, unknown>);
}

function fast(op: Op, line: string, withModel = true) {
  // Embed the line in a larger buffer, as the splitter hands it over.
  const bytes = Buffer.from(`junk\n${line}\nmore`);
  const start = 5;
  return parseOllamaTokenLine(
    op,
    bytes,
    start,
    start + Buffer.byteLength(line),
    withModel,
  );
}

const TEXTS = [
  'say "hi"\n',
  "tab\there \\ <b> \u0001",
  "The",
  " sky",
  "",
  "blü 世界 🌍",
  "a<b>&c",
  "\u2028\u2029",
  "x\u007f",
];

describe("parseOllamaTokenLine", () => {
  it.each(TEXTS)(
    "reads chat and generate token lines like the full parse (%j)",
    (text) => {
      for (const [op, line] of [
        ["chat", chatLine("llama3.2", text)],
        ["generate", generateLine("qwen3:0.6b", text)],
      ] as const) {
        expect(fast(op, line)).toEqual(full(op, line));
      }
    },
  );

  it("decodes an escaped model name", () => {
    const line = chatLine('m"x\u00e9', "hi");
    expect(fast("chat", line)).toEqual(full("chat", line));
  });

  it("leaves the model out once the caller knows it", () => {
    const line = chatLine("llama3.2", "Hi");
    const { model: _model, ...rest } = full("chat", line);
    expect(fast("chat", line, false)).toEqual(rest);
  });

  it.each([
    ["a bad escape", chatLine("m", "x").replace('"x"', '"a\\qb"')],
    [
      "an escape in the timestamp",
      chatLine("m", "x").replace(".123", ".\\u0031"),
    ],
    ["thinking", chatLine("m", "").replace('""}', '"","thinking":"hm"}')],
    ["tool calls", chatLine("m", "").replace('""}', '"","tool_calls":[]}')],
    ["done:true", chatLine("m", "x").replace('"done":false', '"done":true')],
    ["another role", chatLine("m", "x").replace("assistant", "user")],
    ["whitespace", ` ${chatLine("m", "x")}`],
    ["a CR", `${chatLine("m", "x")}\r`],
    ["extra fields", chatLine("m", "x").replace("}", ',"extra":1}')],
    ["an error line", '{"error":"boom"}'],
    ["a raw control byte", chatLine("m", "x").replace('"x"', '"a\tb"')],
    ["a truncated line", chatLine("m", "x").slice(0, -3)],
    ["generate shape on chat", generateLine("m", "x")],
  ])("declines %s", (_name, line) => {
    expect(fast("chat", line)).toBeUndefined();
  });

  it("declines every op but chat and generate", () => {
    const line = chatLine("m", "x");
    for (const op of ["embed", "pull", "chat_completions"] as Op[])
      expect(fast(op, line)).toBeUndefined();
  });

  it("agrees with the full parse on hostile and random strings", () => {
    let state = 42;
    const next = () => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const samples: string[] = [...HOSTILE_VALUES];
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(next() * 12);
      samples.push(
        Array.from({ length }, () =>
          String.fromCodePoint(
            next() < 0.7
              ? 0x20 + Math.floor(next() * 0x5f)
              : Math.floor(next() * 0x2ffff),
          ),
        ).join(""),
      );
    }
    for (const text of samples) {
      for (const [op, line] of [
        ["chat", chatLine("m:latest", text)],
        ["generate", generateLine(text, text)],
      ] as const) {
        const event = fast(op, line);
        // Declining is always allowed; accepting must give the full parse's answer.
        if (event !== undefined) expect(event).toEqual(full(op, line));
      }
    }
  });
});
