// Time per output token: what a streaming client feels between tokens once the first has arrived.
import { describe, expect, it } from "vitest";
import { timePerOutputToken } from "@proxy/metrics/record.ts";
import { summary, tap } from "../../fixtures/exchange.ts";

describe("time per output token", () => {
  it("is (duration − TTFT) / (output tokens − 1)", () => {
    // 2.5 s in all, first token at 0.4 s, 40 tokens: 2.1 s over 39 gaps.
    expect(timePerOutputToken(summary())).toBeCloseTo(2.1 / 39, 12);
  });

  it("needs a stream's first token, two output tokens and a complete answer", () => {
    expect(timePerOutputToken(summary({ ttftSeconds: undefined }))).toBe(
      undefined,
    );
    const one = tap({ usage: { completionTokens: 1 } });
    expect(timePerOutputToken(summary({ tap: one }))).toBe(undefined);
    expect(timePerOutputToken(summary({ outcome: "client_aborted" }))).toBe(
      undefined,
    );
  });
});
