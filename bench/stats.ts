// Percentiles of samples and medians of repetitions. Pure.

/** Linear-interpolated percentile (p in 0..100) of unsorted samples; NaN for none. */
export function percentile(samples: ArrayLike<number>, p: number): number {
  return percentiles(samples, [p])[0] ?? Number.NaN;
}

export function percentiles(
  samples: ArrayLike<number>,
  ps: readonly number[],
): number[] {
  if (samples.length === 0) return ps.map(() => Number.NaN);
  const sorted = Float64Array.from(samples).sort();
  return ps.map((p) => {
    const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
    const low = Math.floor(rank);
    const high = Math.ceil(rank);
    const a = sorted[low] as number;
    const b = sorted[high] as number;
    return a + (b - a) * (rank - low);
  });
}

/** The median of repeated measurements and their spread (min and max). */
export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly values: readonly number[];
}

export function summarize(values: readonly number[]): Summary {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0)
    return { median: Number.NaN, min: Number.NaN, max: Number.NaN, values };
  return {
    median: percentile(finite, 50),
    min: Math.min(...finite),
    max: Math.max(...finite),
    values,
  };
}

/** Relative spread of a summary: (max - min) / median, in percent. */
export function spreadPercent(summary: Summary): number {
  return summary.median === 0
    ? 0
    : ((summary.max - summary.min) / Math.abs(summary.median)) * 100;
}

/**
 * The median over repetitions of `combine(a, b)` taken within each repetition (the two targets measured minutes
 * apart at most, on the same machine state): a side-by-side difference that a slow repetition, which slows both,
 * does not move as it moves the difference of the two medians. NaN when no repetition has both.
 */
export function pairedMedian(
  a: Summary,
  b: Summary,
  combine: (a: number, b: number) => number,
): number {
  const paired: number[] = [];
  for (let i = 0; i < Math.min(a.values.length, b.values.length); i++) {
    const value = combine(a.values[i] as number, b.values[i] as number);
    if (Number.isFinite(value)) paired.push(value);
  }
  return percentile(paired, 50);
}
