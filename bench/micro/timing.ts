// The timer of the in-process microbenchmarks: warm up, then the median of five runs, in µs per call.

function report(name: string, runs: number[], digits: number): void {
  runs.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(52)} ${runs[2]!.toFixed(digits)} µs (min ${runs[0]!.toFixed(digits)})`,
  );
}

export function time(
  name: string,
  fn: () => void,
  n: number,
  digits = 2,
): void {
  for (let i = 0; i < n / 10; i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    runs.push(((performance.now() - t) * 1000) / n);
  }
  report(name, runs, digits);
}

/**
 * The same for work that completes later: `n` calls of `fn`, then `settle()` (e.g. a flush that does what they
 * queued), timed together, in µs per call.
 */
export async function timeSettled(
  name: string,
  fn: () => void,
  settle: () => Promise<void>,
  n: number,
  digits = 2,
): Promise<void> {
  for (let i = 0; i < n / 10; i++) fn();
  await settle();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn();
    await settle();
    runs.push(((performance.now() - t) * 1000) / n);
  }
  report(name, runs, digits);
}
