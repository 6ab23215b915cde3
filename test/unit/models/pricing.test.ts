import { describe, expect, it } from "vitest";
import {
  computeCost,
  createPricer,
  parsePricing,
} from "@proxy/models/pricing.ts";

const table = (text: string) => {
  const parsed = parsePricing(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.table;
};

describe("pricing", () => {
  const pricer = createPricer(
    table(`
currency: USD
models:
  "llama3.*": { input: 1, output: 1 }
  llama3.1:8b: { input: 0.15, output: 0.6 }
  gpt-4o: { input: 2.5, output: 10 }
  "*": { input: 0, output: 0 }
`),
  );

  it("costs tokens × price per million", () => {
    expect(pricer.costOf("gpt-4o", 1_000_000, 0)).toBeCloseTo(2.5, 12);
    expect(pricer.costOf("gpt-4o", 1200, 300)).toBeCloseTo(
      (1200 * 2.5 + 300 * 10) / 1e6,
      15,
    );
    expect(pricer.costOf("gpt-4o:latest", 0, 2_000_000)).toBeCloseTo(20, 12);
  });

  it("prefers an exact name over a glob listed before it", () => {
    expect(pricer.priceOf("llama3.1:8b")).toEqual({
      inputPerMillion: 0.15,
      outputPerMillion: 0.6,
    });
    expect(pricer.priceOf("llama3.2:1b")).toEqual({
      inputPerMillion: 1,
      outputPerMillion: 1,
    });
    expect(pricer.costOf("mistral", 10, 10)).toBe(0);
  });

  it("has no price for unknown models without a catch-all, or for no model", () => {
    const narrow = createPricer(
      table("models:\n  gpt-4o: { input: 2.5, output: 10 }\n"),
    );
    expect(narrow.costOf("llama3.2", 10, 10)).toBeUndefined();
    expect(narrow.costOf("", 10, 10)).toBeUndefined();
  });

  it("ignores negative or non-finite token counts", () => {
    expect(
      computeCost({ inputPerMillion: 1, outputPerMillion: 1 }, -5, Number.NaN),
    ).toBe(0);
  });

  it("reads JSON too", () => {
    expect(
      table('{"models":{"a":{"input":1,"output":2}}}').entries,
    ).toHaveLength(1);
  });

  it.each([
    ["not: [valid", "not valid YAML"],
    ["models: []", "models:"],
    ["models:\n  a: { input: -1, output: 1 }", "non-negative"],
    ["models:\n  a: { input: 1 }", "expected { input"],
    ["models:\n  a: { input: 1, output: 1, extra: 2 }", "expected { input"],
    ['models:\n  "a b": { input: 1, output: 1 }', "not a model name"],
    ["models: {}\nprices: {}", "unknown field"],
    ["models: {}\ncurrency: 5", "currency"],
    [
      "models:\n  a: { input: 1, output: 1 }\n  a: { input: 2, output: 2 }",
      "not valid YAML",
    ],
  ])("rejects %j", (text, message) => {
    const parsed = parsePricing(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(message);
  });
});
