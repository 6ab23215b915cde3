import { describe, expect, it } from "vitest";
import { classifyModel } from "../../../tools/traffic/models.ts";

describe("classifyModel", () => {
  it("trusts capabilities when the server reports them", () => {
    expect(classifyModel("all-minilm:latest", ["embedding"])).toBe("embedding");
    expect(classifyModel("llama3.2:latest", ["completion", "tools"])).toBe(
      "chat",
    );
    // A model that both embeds and completes is used for chat.
    expect(classifyModel("odd-embed-model", ["completion", "embedding"])).toBe(
      "chat",
    );
  });

  it.each([
    ["nomic-embed-text:latest", "embedding"],
    ["mxbai-embed-large", "embedding"],
    ["all-minilm:l6-v2", "embedding"],
    ["bge-m3", "embedding"],
    ["snowflake-arctic-embed:xs", "embedding"],
    ["granite-embedding:30m", "embedding"],
    ["llama3.2:latest", "chat"],
    ["qwen3:0.6b", "chat"],
    ["gemma3:1b", "chat"],
    ["deepseek-r1:7b", "chat"],
  ])("falls back to the name without capabilities: %s is %s", (name, kind) => {
    expect(classifyModel(name, undefined)).toBe(kind);
    expect(classifyModel(name, [])).toBe(kind);
  });
});
