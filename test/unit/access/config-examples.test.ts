// The example files shipped in config/ are what users copy: they must load as they are.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAliases, resolveAlias } from "@proxy/models/aliases.ts";
import { parseKeysFile } from "@proxy/access/keys-file.ts";
import { parsePricing } from "@proxy/models/pricing.ts";

const read = (name: string) =>
  readFileSync(new URL(`../../../config/${name}`, import.meta.url), "utf8");

describe("config/*.example.yaml", () => {
  it("keys.example.yaml validates", () => {
    expect(parseKeysFile(read("keys.example.yaml"))).toMatchObject({
      ok: true,
    });
  });

  it("aliases.example.yaml maps OpenAI names to local models", () => {
    const aliases = parseAliases(read("aliases.example.yaml"));
    expect(resolveAlias(aliases, "gpt-4o")).toBe("llama3.1:8b");
    expect(resolveAlias(aliases, "text-embedding-3-small")).toBe("all-minilm");
  });

  it("pricing.example.yaml validates", () => {
    expect(parsePricing(read("pricing.example.yaml"))).toMatchObject({
      ok: true,
    });
  });
});
