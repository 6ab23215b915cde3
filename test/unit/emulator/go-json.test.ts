import { describe, expect, it } from "vitest";
import {
  formatFloat32,
  goJson,
  goString,
  sortKeysDeep,
} from "../../fixtures/ollama-emulator/go-json.ts";

describe("goJson", () => {
  it("escapes <, >, & and the JS line separators like Go's json.Marshal", () => {
    expect(goJson({ t: "<think>a & b</think>\u2028\u2029" })).toBe(
      '{"t":"\\u003cthink\\u003ea \\u0026 b\\u003c/think\\u003e\\u2028\\u2029"}',
    );
    expect(goString("tab\there\n")).toBe('"tab\\there\\n"');
  });

  it("keeps insertion order, and sortKeysDeep gives map[string]any order", () => {
    expect(goJson({ b: 1, a: 2 })).toBe('{"b":1,"a":2}');
    expect(
      goJson(sortKeysDeep({ b: 1, a: { d: [{ z: 1, y: 2 }], c: 3 } })),
    ).toBe('{"a":{"c":3,"d":[{"y":2,"z":1}]},"b":1}');
  });
});

describe("formatFloat32", () => {
  it.each([
    [0.010071029, "0.010071029"],
    [-0.0017594862, "-0.0017594862"],
    [0.1, "0.1"],
    [1, "1"],
    [0, "0"],
    [1e-7, "1e-7"],
  ])("prints %f as the shortest float32 round-trip %s", (value, text) => {
    expect(formatFloat32(value)).toBe(text);
  });
});
