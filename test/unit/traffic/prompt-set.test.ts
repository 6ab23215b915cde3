// The curated prompt set is data a demo user reads in Grafana: check its size, spread and shape.
import { CATEGORIES } from "@proxy/records/category-rules.ts";
import { describe, expect, it } from "vitest";
import {
  loadPromptSet,
  parsePromptFile,
  toMessages,
} from "../../../tools/traffic/prompt-set.ts";

const prompts = loadPromptSet();
const byCategory = new Map<string, number>();
for (const entry of prompts)
  byCategory.set(entry.category, (byCategory.get(entry.category) ?? 0) + 1);

describe("the curated prompt set", () => {
  it("has at least 500 prompts across at least 10 categories", () => {
    expect(prompts.length).toBeGreaterThanOrEqual(500);
    expect(byCategory.size).toBeGreaterThanOrEqual(10);
    for (const required of [
      "code",
      "math",
      "summarize",
      "translate",
      "reasoning",
      "creative",
      "extraction",
      "classification",
      "conversation",
      "factual",
    ]) {
      expect(byCategory.get(required), required).toBeGreaterThanOrEqual(20);
    }
  });

  it("uses only categories the categoriser can output (so the two can be compared)", () => {
    for (const category of byCategory.keys()) {
      expect(CATEGORIES as readonly string[]).toContain(category);
      expect(category).not.toBe("other");
    }
  });

  it("has no duplicates, even after case and whitespace are normalised", () => {
    const seen = new Map<string, number>();
    prompts.forEach((entry, i) => {
      const key = [
        entry.system ?? "",
        ...(entry.turns ?? []).map((t) => t.content),
        entry.prompt,
      ]
        .join("\u0000")
        .toLowerCase()
        .replace(/\s+/g, " ")
        .trim();
      expect(
        seen.has(key),
        `duplicate of #${seen.get(key)}: ${entry.prompt.slice(0, 60)}`,
      ).toBe(false);
      seen.set(key, i);
    });
  });

  it("varies: short and multi-paragraph prompts, system prompts, multi-turn conversations", () => {
    const lengths = prompts.map((entry) => entry.prompt.length);
    expect(Math.min(...lengths)).toBeLessThan(40);
    expect(
      prompts.filter((entry) => entry.prompt.length > 600).length,
    ).toBeGreaterThanOrEqual(10);
    const multiParagraph = prompts.filter(
      (entry) =>
        (entry.category === "summarize" || entry.category === "extraction") &&
        /\n\s*\n.*\n\s*\n/s.test(entry.prompt),
    );
    expect(multiParagraph.length).toBeGreaterThanOrEqual(5);
    expect(
      prompts.filter((entry) => entry.system !== undefined).length,
    ).toBeGreaterThanOrEqual(40);
    expect(
      prompts.filter((entry) => entry.turns !== undefined).length,
    ).toBeGreaterThanOrEqual(20);
    expect(prompts.some((entry) => (entry.turns?.length ?? 0) >= 4)).toBe(true);
  });

  it("has clean text: trimmed, no template leftovers, no tabs or carriage returns", () => {
    for (const entry of prompts) {
      for (const text of [
        entry.prompt,
        entry.system ?? "x",
        ...(entry.turns ?? []).map((t) => t.content),
      ]) {
        expect(text, entry.prompt.slice(0, 60)).toBe(text.trim());
        expect(text).not.toMatch(/\r|\t|\$\{|TODO|lorem ipsum/i);
      }
    }
  });

  it("renders as chat messages ending with the prompt as the last user message", () => {
    const entry =
      prompts.find((e) => e.turns !== undefined && e.system !== undefined) ??
      prompts[0]!;
    const messages = toMessages(entry);
    expect(messages.at(-1)).toEqual({ role: "user", content: entry.prompt });
    if (entry.system !== undefined)
      expect(messages[0]).toEqual({ role: "system", content: entry.system });
  });
});

describe("parsePromptFile", () => {
  it("accepts well-formed entries", () => {
    const parsed = parsePromptFile(
      [
        { category: "math", prompt: "1 + 1?" },
        {
          category: "math",
          prompt: "And 2 + 2?",
          system: "Be brief.",
          turns: [
            { role: "user", content: "1 + 1?" },
            { role: "assistant", content: "2" },
          ],
        },
      ],
      "math",
    );
    expect(parsed.ok).toBe(true);
  });

  it.each([
    [{}, /expected a JSON array/],
    [[{ category: "math" }], /prompt must be a non-empty string/],
    [
      [{ category: "math", prompt: "   " }],
      /prompt must be a non-empty string/,
    ],
    [[{ category: "code", prompt: "x" }], /category "code" in the math file/],
    [[{ category: "math", prompt: "x", extra: 1 }], /unknown field extra/],
    [
      [{ category: "math", prompt: "x", system: "" }],
      /system must be a non-empty string/,
    ],
    [
      [{ category: "math", prompt: "x", turns: [] }],
      /turns must be user\/assistant pairs/,
    ],
    [
      [
        {
          category: "math",
          prompt: "x",
          turns: [{ role: "user", content: "a" }],
        },
      ],
      /pairs/,
    ],
    [
      [
        {
          category: "math",
          prompt: "x",
          turns: [
            { role: "assistant", content: "a" },
            { role: "user", content: "b" },
          ],
        },
      ],
      /turns\[0\] must be \{"role":"user"/,
    ],
  ])("rejects %j", (raw, pattern) => {
    const parsed = parsePromptFile(raw, "math");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(pattern);
  });
});
