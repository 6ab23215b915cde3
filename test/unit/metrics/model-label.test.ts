import { describe, expect, it } from "vitest";
import {
  createModelAllowList,
  OTHER_MODEL,
} from "@proxy/metrics/model-label.ts";
import { normalizeModel } from "@proxy/models/model-names.ts";

describe("normalizeModel", () => {
  it.each([
    ["llama3.2", "llama3.2:latest"],
    ["llama3.2:latest", "llama3.2:latest"],
    ["qwen3:0.6b", "qwen3:0.6b"],
    ["hf.co/org/repo", "hf.co/org/repo:latest"],
    ["registry.local:5000/team/model", "registry.local:5000/team/model:latest"],
    ["  ", ""],
  ])("%s → %s", (input, expected) => {
    expect(normalizeModel(input)).toBe(expected);
  });
});

describe("model allow-list", () => {
  it("labels only known models, everything else _other", () => {
    const models = createModelAllowList();
    models.replace(["llama3.2:latest", "qwen3"]);
    expect(models.label("llama3.2:latest")).toBe("llama3.2:latest");
    expect(models.label("qwen3:latest")).toBe("qwen3:latest");
    expect(models.label("made-up:1")).toBe(OTHER_MODEL);
    expect(models.label("")).toBe("");
  });

  it("stays bounded whatever is admitted", () => {
    const models = createModelAllowList(3);
    for (let i = 0; i < 100; i++) models.admit(`m${i}:latest`);
    expect(models.size).toBe(3);
  });
});
