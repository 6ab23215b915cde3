// PRICING_FILE: a price per 1M input and output tokens per model (what the same tokens would cost on a paid API,
// or an internal rate), and the cost of one request. Pure: no I/O.
import { isObject } from "../upstream/json-fields.ts";
import { parse as parseYaml } from "yaml";
import {
  compileModelGlob,
  isValidModelGlob,
  type ModelMatcher,
} from "./model-names.ts";

export interface Price {
  /** Currency units per 1,000,000 prompt (input) tokens. */
  readonly inputPerMillion: number;
  /** Currency units per 1,000,000 completion (output) tokens. */
  readonly outputPerMillion: number;
}

export interface PriceTable {
  readonly currency: string | undefined;
  /** In file order; exact names are tried before globs. */
  readonly entries: ReadonlyArray<{
    readonly pattern: string;
    readonly price: Price;
  }>;
}

export type PricingResult =
  | { readonly ok: true; readonly table: PriceTable }
  | { readonly ok: false; readonly reason: string };

const isPrice = (value: unknown): value is number =>
  typeof value === "number" && Number.isFinite(value) && value >= 0;

/**
 * Reads a pricing document (YAML or JSON):
 * `currency: USD` (optional, informational) and `models: { "<name or glob>": { input: 0.15, output: 0.6 } }`.
 */
export function parsePricing(text: string): PricingResult {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: true });
  } catch {
    return { ok: false, reason: "not valid YAML or JSON" };
  }
  if (!isObject(document) || !isObject(document.models))
    return {
      ok: false,
      reason: 'expected a "models:" mapping of model → { input, output }',
    };
  for (const key of Object.keys(document))
    if (key !== "models" && key !== "currency")
      return {
        ok: false,
        reason: `unknown field ${JSON.stringify(key)} (expected currency, models)`,
      };
  const currency = document.currency;
  if (
    currency !== undefined &&
    (typeof currency !== "string" || !/^[A-Za-z0-9 _.-]{1,16}$/.test(currency))
  )
    return { ok: false, reason: "currency: expected a short name like USD" };
  const entries: Array<{ pattern: string; price: Price }> = [];
  for (const [pattern, value] of Object.entries(document.models)) {
    const where = `models.${JSON.stringify(pattern)}`;
    if (!isValidModelGlob(pattern))
      return {
        ok: false,
        reason: `${where}: not a model name or glob`,
      };
    if (
      !isObject(value) ||
      !isPrice(value.input) ||
      !isPrice(value.output) ||
      Object.keys(value).some((key) => key !== "input" && key !== "output")
    )
      return {
        ok: false,
        reason: `${where}: expected { input: <price per 1M tokens>, output: <price per 1M tokens> }, non-negative numbers`,
      };
    entries.push({
      pattern,
      price: { inputPerMillion: value.input, outputPerMillion: value.output },
    });
  }
  return {
    ok: true,
    table: {
      currency: typeof currency === "string" ? currency : undefined,
      entries,
    },
  };
}

export interface Pricer {
  priceOf(model: string): Price | undefined;
  /** prompt × input / 1e6 + completion × output / 1e6; undefined when the model has no price. */
  costOf(
    model: string,
    promptTokens: number,
    completionTokens: number,
  ): number | undefined;
}

export function createPricer(table: PriceTable): Pricer {
  const isGlob = (pattern: string) =>
    pattern.includes("*") || pattern.includes("?");
  const ordered: Array<{ match: ModelMatcher; price: Price }> = [
    ...table.entries.filter((entry) => !isGlob(entry.pattern)),
    ...table.entries.filter((entry) => isGlob(entry.pattern)),
  ].map((entry) => ({
    match: compileModelGlob(entry.pattern),
    price: entry.price,
  }));
  const priceOf = (model: string) =>
    model === ""
      ? undefined
      : ordered.find((entry) => entry.match(model))?.price;
  return {
    priceOf,
    costOf(model, promptTokens, completionTokens) {
      const price = priceOf(model);
      if (!price) return undefined;
      return computeCost(price, promptTokens, completionTokens);
    },
  };
}

export function computeCost(
  price: Price,
  promptTokens: number,
  completionTokens: number,
): number {
  const prompt = Number.isFinite(promptTokens) ? Math.max(0, promptTokens) : 0;
  const completion = Number.isFinite(completionTokens)
    ? Math.max(0, completionTokens)
    : 0;
  return (
    (prompt * price.inputPerMillion + completion * price.outputPerMillion) / 1e6
  );
}
