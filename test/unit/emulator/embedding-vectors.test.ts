import { describe, expect, it } from "vitest";
import {
  embedText,
  formatEmbedding,
  formatMicros,
  toFloat32,
} from "../../fixtures/ollama-emulator/embedding-vectors.ts";
import { formatFloat32 } from "../../fixtures/ollama-emulator/go-json.ts";

describe("embedding vectors", () => {
  it("prints each component exactly as Go prints the float32", () => {
    for (let k = -1_000_000; k <= 1_000_000; k += 7919) {
      expect(formatMicros(k)).toBe(formatFloat32(k / 1_000_000));
    }
    expect(formatMicros(-35559)).toBe("-0.035559");
    expect(formatMicros(100000)).toBe("0.1");
    expect(formatMicros(1_000_000)).toBe("1");
  });

  it("is deterministic, L2-normalised, and re-normalised after truncation", () => {
    const v = embedText("m", "hello", 384, undefined);
    expect(embedText("m", "hello", 384, undefined)).toEqual(v);
    expect(embedText("m", "hello!", 384, undefined)).not.toEqual(v);
    const norm = (x: Float32Array) =>
      Math.sqrt(x.reduce((s, a) => s + a * a, 0));
    expect(norm(toFloat32(v))).toBeCloseTo(1, 5);
    const short = embedText("m", "hello", 384, 16);
    expect(short).toHaveLength(16);
    expect(norm(toFloat32(short))).toBeCloseTo(1, 5);
    expect(JSON.parse(formatEmbedding(v))).toHaveLength(384);
  });
});
