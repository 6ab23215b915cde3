import { describe, expect, it } from "vitest";
import {
  AliasError,
  createModelRewriter,
  isModelKeySpelling,
  parseAliases,
  resolveAlias,
  rewriteModelField,
  writeBackModel,
} from "@proxy/models/aliases.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";
import { transcript } from "../../helpers/transcripts.ts";

describe("parseAliases", () => {
  const expected = new Map([
    ["gpt-4o:latest", "llama3.1:8b"],
    ["gpt-4o-mini:latest", "llama3.2"],
  ]);

  it.each([
    ["inline", "gpt-4o=llama3.1:8b, gpt-4o-mini=llama3.2,"],
    ["YAML", "gpt-4o: llama3.1:8b\ngpt-4o-mini: llama3.2\n"],
    [
      "YAML under aliases:",
      "aliases:\n  gpt-4o: llama3.1:8b\n  gpt-4o-mini: llama3.2\n",
    ],
    ["JSON", '{"gpt-4o": "llama3.1:8b", "gpt-4o-mini": "llama3.2"}'],
  ])("reads %s", (_kind, text) => {
    expect(parseAliases(text)).toEqual(expected);
  });

  it("is empty for empty text", () => {
    expect(parseAliases("  ").size).toBe(0);
  });

  it("resolves the name as sent, with or without :latest, case-insensitively", () => {
    const aliases = parseAliases(
      "gpt-4o=llama3.1:8b,text-embedding-3-small=all-minilm",
    );
    expect(resolveAlias(aliases, "gpt-4o")).toBe("llama3.1:8b");
    expect(resolveAlias(aliases, "gpt-4o:latest")).toBe("llama3.1:8b");
    expect(resolveAlias(aliases, "GPT-4o")).toBe("llama3.1:8b");
    expect(resolveAlias(aliases, "text-embedding-3-small")).toBe("all-minilm");
    expect(resolveAlias(aliases, "gpt-4o:mini")).toBeUndefined();
    expect(resolveAlias(aliases, "llama3.1:8b")).toBeUndefined();
    expect(resolveAlias(aliases, "")).toBeUndefined();
  });

  it.each([
    ['gpt"4o=llama3'],
    ['gpt-4o=llama3"}'],
    ["gpt-4o=llama3\r\nX-Injected: 1"],
    ["gpt 4o=llama3"],
    ["gpt-4o=llama3\\u0022"],
    ["gpt-4o=llama3\u0000"],
    ["gpt-4o=lla\u2028ma3"],
    ["gpt-4o=llama3,gpt-4o=qwen"],
    ["gpt-4o=llama3,GPT-4o:latest=qwen"],
    ["gpt-4o"],
    ["=llama3"],
    ["gpt-4o="],
    ["gpt-4o=mini,mini=llama3"],
    ["gpt-4o: [llama3]"],
    ["- gpt-4o"],
    ["gpt-4o: 'llama3\\r\\nx'"],
    ['"gpt-4o": "llama3\\nX-Evil: 1"'],
    ["a: b\na: c"],
  ])("rejects %j", (text) => {
    expect(() => parseAliases(text)).toThrow(AliasError);
  });

  it("rejects every hostile string as an alias name and as a target", () => {
    for (const value of HOSTILE_VALUES) {
      expect(() => parseAliases(JSON.stringify({ [value]: "llama3" }))).toThrow(
        AliasError,
      );
      expect(() => parseAliases(JSON.stringify({ gpt: value }))).toThrow(
        AliasError,
      );
    }
  });

  it("names the bad entry without echoing more than a short prefix", () => {
    try {
      parseAliases(JSON.stringify({ ["x".repeat(500) + '"']: "llama3" }));
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(200);
    }
  });
});

describe("rewriteModelField", () => {
  it("replaces the model and keeps every other field and the key order", () => {
    const body = rewriteModelField(
      {
        model: "gpt-4o",
        messages: [{ role: "user", content: "hi" }],
        stream: true,
      },
      "llama3.1:8b",
    );
    expect(JSON.stringify(body)).toBe(
      '{"model":"llama3.1:8b","messages":[{"role":"user","content":"hi"}],"stream":true}',
    );
  });

  it("drops other spellings of model, which Ollama's decoder would also read", () => {
    const body = rewriteModelField(
      { model: "gpt-4o", MODEL: "x", Model: "y", ｍodel: "z" },
      "llama3",
    );
    expect(body).toEqual({ model: "llama3" });
    expect(isModelKeySpelling("Model")).toBe(true);
    expect(isModelKeySpelling("ｍｏｄｅｌ")).toBe(true);
    expect(isModelKeySpelling("models")).toBe(false);
  });

  it("adds the model when the body has none", () => {
    expect(JSON.stringify(rewriteModelField({ prompt: "x" }, "llama3"))).toBe(
      '{"prompt":"x","model":"llama3"}',
    );
  });
});

/** One unit per line (NDJSON) or per SSE `data:` field. */
function unitsOf(name: string): string[] {
  const text = transcript(name).toString("utf8");
  if (name.endsWith(".ndjson"))
    return text.split("\n").filter((line) => line.trim() !== "");
  return text
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => line.slice(6));
}

describe.each([
  ["chat-stream-thinking-tools.ndjson"],
  ["generate-stream.ndjson"],
  ["chat-completions-current.sse"],
  ["chat-completions-legacy.sse"],
  ["completions-include-usage.sse"],
  ["responses.sse"],
  ["messages.sse"],
])("writeBackModel over %s", (name) => {
  const units = unitsOf(name);
  const served =
    (JSON.parse(units[0]!) as { model?: string }).model ?? "llama3.2";

  it("writes the requested name wherever the served model appears, and changes nothing else", () => {
    let replaced = 0;
    for (const unit of units) {
      const out = writeBackModel(unit, served, "gpt-4o");
      const expected = unit.replaceAll(
        `"model":"${served}"`,
        '"model":"gpt-4o"',
      );
      expect(out).toBe(expected);
      if (out !== unit) {
        replaced++;
        JSON.parse(out);
      }
    }
    expect(replaced).toBeGreaterThan(0);
  });

  it("is the identity when served and requested are the same or the model differs", () => {
    for (const unit of units) {
      expect(writeBackModel(unit, served, served)).toBe(unit);
      expect(writeBackModel(unit, "qwen2.5:7b", "gpt-4o")).toBe(unit);
    }
  });
});

describe("writeBackModel edge cases", () => {
  it.each([
    ['{"model":"llama3.2","x":1}', '{"model":"gpt-4o","x":1}'],
    ['{ "model" : "llama3.2" }', '{ "model" : "gpt-4o" }'],
    ['{"model":"llama3.2:latest"}', '{"model":"gpt-4o"}'],
    ['{"mod\\u0065l":"llama3.2"}', '{"mod\\u0065l":"gpt-4o"}'],
    ['{"model":"llam\\u00613.2"}', '{"model":"gpt-4o"}'],
    [
      '{"response":"\\"model\\":\\"llama3.2\\""}',
      '{"response":"\\"model\\":\\"llama3.2\\""}',
    ],
    [
      '{"content":"{\\"model\\": \\"llama3.2\\"}","model":"llama3.2"}',
      '{"content":"{\\"model\\": \\"llama3.2\\"}","model":"gpt-4o"}',
    ],
    ['{"models":"llama3.2"}', '{"models":"llama3.2"}'],
    ['{"model":null}', '{"model":null}'],
    ['{"model":"llama3.2"', '{"model":"gpt-4o"'],
    ['{"model":"llama3.2', '{"model":"llama3.2'],
    ["not json", "not json"],
    ['"model"', '"model"'],
    ['{"a":"\\\\","model":"llama3.2"}', '{"a":"\\\\","model":"gpt-4o"}'],
  ])("%s → %s", (unit, expected) => {
    expect(writeBackModel(unit, "llama3.2", "gpt-4o")).toBe(expected);
  });

  it("keeps non-ASCII bytes intact", () => {
    const unit = '{"model":"llama3.2","message":{"content":"ñ 世界 🦙"}}';
    expect(Buffer.from(writeBackModel(unit, "llama3.2", "gpt-4o"))).toEqual(
      Buffer.from('{"model":"gpt-4o","message":{"content":"ñ 世界 🦙"}}'),
    );
  });
});

describe("createModelRewriter", () => {
  const cuts = (bytes: Buffer, size: number) =>
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    );

  describe.each([
    ["chat-completions-current.sse", "llama3.2"],
    ["generate-stream.ndjson", "llama3.2"],
    ["messages.sse", "llama3.2"],
    ["chat.json", "llama3.2"],
  ])("over %s", (name, served) => {
    const bytes = transcript(name);
    const expected = Buffer.from(
      bytes
        .toString("utf8")
        .replaceAll(`"model":"${served}"`, '"model":"gpt-4o"')
        .replaceAll(`"model": "${served}"`, '"model": "gpt-4o"'),
    );

    it.each([1, 7, 64, 100_000])(
      "gives the same bytes whatever the chunking (%d-byte chunks)",
      (size) => {
        const rewriter = createModelRewriter(served, "gpt-4o");
        const out = Buffer.concat([
          ...cuts(bytes, size).map((chunk) => rewriter.push(chunk)),
          rewriter.end(),
        ]);
        expect(out.toString("utf8")).toBe(expected.toString("utf8"));
      },
    );
  });

  it("passes an oversized line on unmodified instead of buffering it", () => {
    const rewriter = createModelRewriter("a", "b", 16);
    const long = `{"model":"a","x":"${"y".repeat(40)}"}\n{"model":"a"}\n`;
    const out = Buffer.concat([
      ...cuts(Buffer.from(long), 8).map((chunk) => rewriter.push(chunk)),
      rewriter.end(),
    ]).toString();
    expect(out).toBe(`{"model":"a","x":"${"y".repeat(40)}"}\n{"model":"b"}\n`);
  });

  it("rewrites a final line without a newline at the end", () => {
    const rewriter = createModelRewriter("a", "b");
    expect(rewriter.push(Buffer.from('{"model":"a"}')).length).toBe(0);
    expect(rewriter.end().toString()).toBe('{"model":"b"}');
  });
});
