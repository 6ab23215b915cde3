// The benchmark's side-by-side figure: a difference taken within each repetition, then its median.
import { describe, expect, it } from "vitest";
import { pairedMedian, summarize } from "../../../bench/stats.ts";

describe("pairedMedian", () => {
  it("compares the targets within each repetition, so a slow repetition does not read as a difference", () => {
    // The second repetition ran on a busy machine: both targets slowed by half. Within each repetition tracing
    // costs 5 %; the medians of each target, taken apart, say 20 %.
    const off = summarize([6.0, 9.0, 6.2]);
    const on = summarize([6.3, 9.45, 7.44]);
    expect(on.median / off.median).toBeCloseTo(1.2, 2);
    expect(pairedMedian(on, off, (a, b) => a / b)).toBeCloseTo(1.05, 2);
    expect(pairedMedian(on, off, (a, b) => a - b)).toBeCloseTo(0.45, 2);
  });

  it("skips a repetition that lacks either figure, and is NaN when none has both", () => {
    const off = summarize([1, Number.NaN, 2]);
    const on = summarize([1.5, 3, Number.NaN]);
    expect(pairedMedian(on, off, (a, b) => a - b)).toBe(0.5);
    expect(
      pairedMedian(summarize([Number.NaN]), summarize([1]), (a, b) => a - b),
    ).toBeNaN();
  });
});
