// Every module of the proxy and the benchmark can be read whole: past ~400 lines a file holds more than one
// concern, and its home is hard to guess.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { listFiles, repoPath } from "./repo-files.ts";

const MAX_LINES = 410;

describe("source file size", () => {
  it(`keeps every file of proxy/src and bench/ at or under ${MAX_LINES} lines`, () => {
    const files = [
      ...listFiles("proxy/src", ".ts"),
      ...listFiles("bench", ".ts"),
    ];
    expect(files.length).toBeGreaterThan(50);
    const long = files
      .map((file) => ({
        file,
        lines: readFileSync(repoPath(file), "utf8").split("\n").length,
      }))
      .filter(({ lines }) => lines > MAX_LINES);
    expect(long).toEqual([]);
  });
});
