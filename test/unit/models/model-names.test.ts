import { describe, expect, it } from "vitest";
import {
  compileModelGlob,
  isValidModelGlob,
  isValidModelName,
} from "@proxy/models/model-names.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

describe("model globs", () => {
  it.each([
    ["llama3.2", "llama3.2:latest", true],
    ["llama3.2", "llama3.2", true],
    ["llama3.2", "llama3.2:1b", false],
    ["llama3.2:*", "llama3.2:1b", true],
    ["llama3.*", "llama3.1:8b", true],
    ["llama3.*", "llama31:8b", false],
    ["llama3*", "llama3:latest", true],
    ["*", "anything:tag", true],
    ["qwen2.5:?b", "qwen2.5:7b", true],
    ["qwen2.5:?b", "qwen2.5:14b", false],
    ["Llama3.2", "llama3.2:latest", true],
    ["library/llama3.2", "llama3.2:latest", false],
    ["hf.co/org/*", "hf.co/org/model:q4", true],
    ["a+b", "a+b:latest", true],
    ["a+b", "aab:latest", false],
  ])("%s matches %s: %s", (pattern, model, expected) => {
    expect(compileModelGlob(pattern)(model)).toBe(expected);
  });

  it("accepts Ollama and OpenAI style names", () => {
    for (const name of [
      "llama3.1:8b",
      "gpt-4o",
      "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
      "registry.ollama.ai/library/llama3:latest",
      "model@sha256:abc",
      "claude-3-5-sonnet-20241022",
    ])
      expect(isValidModelName(name)).toBe(true);
  });

  it("rejects every hostile string as a name and as a glob", () => {
    for (const value of [
      ...HOSTILE_VALUES,
      'gpt"4',
      "gpt\r\n4",
      "gpt 4",
      "gpt\\4",
      "gpt\u00004",
      "",
    ]) {
      expect(isValidModelName(value)).toBe(false);
      expect(isValidModelGlob(value)).toBe(false);
    }
  });
});
