// Number formatting shared by the report's tables and its target checks.
import type { Summary } from "./stats.ts";

export const num = (value: number, digits = 0): string =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      })
    : "–";

export const signedMs = (summary: Summary | undefined, digits = 2): string => {
  if (!summary || !Number.isFinite(summary.median)) return "–";
  const sign = summary.median >= 0 ? "+" : "−";
  return `${sign}${num(Math.abs(summary.median), digits)}`;
};
