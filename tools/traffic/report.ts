// Summary and progress → text. Formatting is pure; only createProgressLine writes (to the stream it is given).
import type { Progress } from "./run.ts";
import type { Percentiles, Summary } from "./stats.ts";

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(seconds % 60).padStart(2, "0")}s`;
}

const BAR_WIDTH = 20;

/** One line, e.g. `[#####-----]  25% 1m05s/5m00s  150 done  2 errors  3 in flight  2.0 req/s`. */
export function formatProgress(progress: Progress): string {
  const byCount =
    progress.total !== undefined ? progress.done / progress.total : undefined;
  const byTime =
    progress.durationMs !== undefined
      ? progress.elapsedMs / progress.durationMs
      : undefined;
  const fraction = Math.min(1, Math.max(byCount ?? 0, byTime ?? 0));
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%`;
  const time =
    progress.durationMs !== undefined
      ? `${formatDuration(progress.elapsedMs)}/${formatDuration(progress.durationMs)}`
      : formatDuration(progress.elapsedMs);
  const done =
    progress.total !== undefined
      ? `${progress.done}/${progress.total}`
      : `${progress.done}`;
  const rate =
    progress.elapsedMs > 0 ? (progress.done / progress.elapsedMs) * 1000 : 0;
  return `${bar} ${time}  ${done} done  ${progress.errors} errors  ${progress.inFlight} in flight  ${rate.toFixed(1)} req/s`;
}

export interface ProgressLine {
  update: (progress: Progress) => void;
  /** Erases the line, so that what is printed next starts on a clean line. */
  end: () => void;
}

/** Redraws one progress line in place on a TTY: `\r`, the line, then clear to the end of the line. */
export function createProgressLine(stream: NodeJS.WriteStream): ProgressLine {
  let drawn = false;
  return {
    update: (progress) => {
      const width = Math.max(20, (stream.columns || 100) - 1);
      stream.write(`\r${formatProgress(progress).slice(0, width)}\x1b[K`);
      drawn = true;
    },
    end: () => {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

const number = (value: number | undefined, digits: number): string =>
  value === undefined ? "-" : value.toFixed(digits);

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach(
      (cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)),
    );
  return rows.map((row) =>
    row
      .map((cell, i) =>
        i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0),
      )
      .join("   ")
      .trimEnd(),
  );
}

function percentileRow(
  label: string,
  values: Percentiles | undefined,
  digits: number,
): string[] {
  return [
    label,
    values ? String(values.count) : "0",
    number(values?.p50, digits),
    number(values?.p95, digits),
    number(values?.p99, digits),
  ];
}

const counts = (
  record: Readonly<
    Record<string, number | { requests: number; errors: number }>
  >,
): string =>
  Object.entries(record)
    .map(([key, value]) =>
      typeof value === "number"
        ? `${key} ${value}`
        : `${key} ${value.requests}`,
    )
    .join(", ") || "-";

/** The closing summary, as printed by the CLI. */
export function formatSummary(summary: Summary): string {
  const lines: string[] = [];
  lines.push(
    `Traffic summary: ${summary.url}  mode ${summary.mode}  seed ${summary.seed}  ${formatDuration(summary.elapsedMs)}`,
  );
  const interrupted =
    summary.interrupted > 0 ? `, ${summary.interrupted} interrupted` : "";
  lines.push(
    `  requests   ${summary.requests} (${summary.ok} ok, ${summary.errors} errors${interrupted})  ${summary.requestsPerSecond.toFixed(2)} req/s`,
  );
  lines.push(`  by kind    ${counts(summary.byKind)}`);
  lines.push(`  by model   ${counts(summary.byModel)}`);
  const errorKinds = Object.entries(summary.errorsByKind).map(
    ([kind, n]) => `${kind} ${n}`,
  );
  const injected =
    summary.injectedErrors > 0
      ? ` (${summary.injectedErrors} injected on purpose)`
      : "";
  lines.push(
    `  errors     ${errorKinds.length > 0 ? errorKinds.join(", ") + injected : "none"}`,
  );
  for (const sample of summary.sampleErrors)
    lines.push(`             ${sample}`);
  lines.push("");
  lines.push(
    ...table([
      ["", "count", "p50", "p95", "p99"],
      percentileRow("TTFT ms (streams)", summary.ttftMs, 0),
      percentileRow("latency ms", summary.latencyMs, 0),
      percentileRow(
        "output tokens/s (streams)",
        summary.outputTokensPerSecond,
        1,
      ),
    ]).map((line) => `  ${line}`),
  );
  lines.push("");
  lines.push(
    `  output     ${summary.outputTokens} tokens, ${summary.throughputTokensPerSecond.toFixed(1)} tokens/s over the run`,
  );
  return lines.join("\n");
}
