// CSV rendering of analytics records (RFC 4180, CRLF rows) with a spreadsheet formula-injection guard.
// Pure: no I/O.

/** Export columns: the record's fields in the order the record documents them. */
export const RECORD_COLUMNS = [
  "time",
  "request_id",
  "endpoint",
  "api",
  "method",
  "model",
  "model_requested",
  "stream",
  "status",
  "outcome",
  "error",
  "done_reason",
  "duration_ms",
  "ttft_ms",
  "prompt_tokens",
  "completion_tokens",
  "tokens_per_second",
  "load_ms",
  "prompt_eval_ms",
  "eval_ms",
  "request_bytes",
  "response_bytes",
  "client_ip",
  "user_agent",
  "client",
  "category",
  "prompt",
  "prompt_chars",
  "prompt_truncated",
  "response",
  "response_chars",
  "response_truncated",
  "images",
  "cost",
] as const;

// Spreadsheets evaluate a text cell starting with one of these as a formula (OWASP "CSV Injection"); tab and
// carriage return are on OWASP's list too.
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV cell. Strings that a spreadsheet would run as a formula get a leading `'`; numbers stay numbers
 * (a negative number is not a formula). Absent and non-finite values are empty cells.
 */
export function csvCell(value: unknown): string {
  let text: string;
  if (value === undefined || value === null) return "";
  if (typeof value === "number")
    return Number.isFinite(value) ? String(value) : "";
  if (typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  if (typeof value === "string")
    text = FORMULA_START.test(value) ? `'${value}` : value;
  else text = JSON.stringify(value) ?? "";
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV row, CRLF-terminated as RFC 4180 §2 asks. */
export function csvRow(cells: readonly unknown[]): string {
  return `${cells.map(csvCell).join(",")}\r\n`;
}

export function csvHeader(columns: readonly string[] = RECORD_COLUMNS): string {
  return csvRow(columns);
}

export function recordToCsvRow(
  record: Record<string, unknown>,
  columns: readonly string[] = RECORD_COLUMNS,
): string {
  return csvRow(columns.map((column) => record[column]));
}
