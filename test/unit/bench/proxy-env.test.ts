// `--proxy-env` of the bench tools (bench/main.ts, thread-cpu.ts, records-under-load.ts): one reading of KEY=VALUE pairs.
import { describe, expect, it } from "vitest";
import { parseProxyEnv } from "../../../bench/targets.ts";

describe("parseProxyEnv", () => {
  it("reads KEY=VALUE pairs, a value may hold '='", () => {
    expect(
      parseProxyEnv("MAX_CONCURRENT=50, NODE_OPTIONS=--max-semi-space-size=8"),
    ).toEqual({
      MAX_CONCURRENT: "50",
      NODE_OPTIONS: "--max-semi-space-size=8",
    });
    expect(parseProxyEnv(undefined)).toEqual({});
    expect(parseProxyEnv("")).toEqual({});
  });

  it("refuses a pair without a name", () => {
    expect(() => parseProxyEnv("MAX_CONCURRENT")).toThrow(/KEY=VALUE/);
    expect(() => parseProxyEnv("=50")).toThrow(/KEY=VALUE/);
  });
});
