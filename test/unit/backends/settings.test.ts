import { describe, expect, it } from "vitest";
import { parseBackends } from "@proxy/backends/settings.ts";
import { loadConfig } from "@proxy/config.ts";
import { configProblems } from "../../helpers/config-problems.ts";

describe("OLLAMA_BACKENDS", () => {
  it("reads names, URLs, weights and caps", () => {
    const { backends, problems } = parseBackends(
      " gpu1=http://gpu1.lan:11434/ , gpu2=https://gpu2.lan/ollama;weight=3;max_concurrent=4",
    );
    expect(problems).toEqual([]);
    expect(backends).toEqual([
      {
        name: "gpu1",
        url: "http://gpu1.lan:11434",
        weight: 1,
        maxConcurrent: undefined,
      },
      {
        name: "gpu2",
        url: "https://gpu2.lan/ollama",
        weight: 3,
        maxConcurrent: 4,
      },
    ]);
  });

  it.each([
    ["gpu1=ftp://gpu1.lan", "is not an http(s) URL"],
    ["gpu1=http://a:1,GPU1=http://b:1", 'the name "GPU1" is used twice'],
    ["http://gpu1.lan:11434", "expected name=http(s)://host:port"],
    ["gpu 1=http://a:1", "must be 1-63 letters"],
    ["gpu1=http://a:1;weight=0", 'option "weight=0" must be'],
    ["gpu1=http://a:1;speed=2", 'option "speed=2" must be'],
    [" , ", "expected at least one name=url"],
  ])("refuses %j, naming the entry", (text, message) => {
    const { problems } = parseBackends(text);
    expect(problems.join("\n")).toContain(message);
  });

  it("makes OLLAMA_URL one backend named default", () => {
    expect(loadConfig({ OLLAMA_URL: "http://box:11434" }).backends).toEqual([
      {
        name: "default",
        url: "http://box:11434",
        weight: 1,
        maxConcurrent: undefined,
      },
    ]);
  });

  it("replaces OLLAMA_URL, which compose always sets", () => {
    expect(
      loadConfig({
        OLLAMA_URL: "http://ollama:11434",
        OLLAMA_BACKENDS: "a=http://a:1",
      }).backends.map((b) => b.name),
    ).toEqual(["a"]);
  });

  it("names every bad entry with the setting", () => {
    const problems = configProblems({
      OLLAMA_BACKENDS: "a=http://a:1,a=http://b:1,c=gopher://c",
    });
    expect(problems).toHaveLength(2);
    for (const problem of problems)
      expect(problem).toMatch(/^OLLAMA_BACKENDS="[^"]*": entry "/);
  });
});
