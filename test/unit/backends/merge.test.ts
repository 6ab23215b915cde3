import { describe, expect, it } from "vitest";
import { compareVersions, mergeReads } from "@proxy/backends/merge.ts";

describe("merged lists", () => {
  it("lists a model installed on several backends once in /api/tags", () => {
    const merged = mergeReads("tags", [
      { models: [{ name: "llama3.2:latest", size: 1 }, { name: "a:1b" }] },
      { models: [{ name: "llama3.2", size: 1 }, { name: "b:latest" }] },
      "garbage",
    ]);
    expect(merged).toEqual({
      models: [
        { name: "llama3.2:latest", size: 1 },
        { name: "a:1b" },
        { name: "b:latest" },
      ],
    });
  });

  it("lists every loaded instance in /api/ps", () => {
    expect(
      mergeReads("ps", [
        { models: [{ name: "m:latest" }] },
        { models: [{ name: "m:latest" }] },
      ]),
    ).toEqual({ models: [{ name: "m:latest" }, { name: "m:latest" }] });
  });

  it("merges /v1/models by id", () => {
    expect(
      mergeReads("models", [
        { object: "list", data: [{ id: "m:latest", object: "model" }] },
        { object: "list", data: [{ id: "m:latest" }, { id: "n:7b" }] },
      ]),
    ).toEqual({
      object: "list",
      data: [{ id: "m:latest", object: "model" }, { id: "n:7b" }],
    });
  });

  it("answers the lowest version, so no client expects what one backend lacks", () => {
    expect(
      mergeReads("version", [
        { version: "0.33.3" },
        { version: "0.12.10" },
        { version: "0.33.0-rc1" },
      ]),
    ).toEqual({ version: "0.12.10" });
    expect(compareVersions("0.33.0-rc1", "0.33.0")).toBeLessThan(0);
    expect(mergeReads("version", [{}])).toEqual({ version: "unknown" });
  });
});
