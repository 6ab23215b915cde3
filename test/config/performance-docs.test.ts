// The README's Performance section shows the latest benchmark's targets, as bench/results/latest.md has them: a
// refreshed benchmark cannot leave the user's first screen quoting older figures.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

/** The "| target (issue 7 unless named) | measured |" table, up to the blank line after it. */
function targetsTable(markdown: string): string | undefined {
  const start = markdown.indexOf(
    "| target (issue 7 unless named) | measured |",
  );
  if (start === -1) return undefined;
  const end = markdown.indexOf("\n\n", start);
  return markdown.slice(start, end === -1 ? undefined : end).trim();
}

describe("README performance section", () => {
  it("shows the targets table of bench/results/latest.md", () => {
    const latest = targetsTable(read("bench/results/latest.md"));
    expect(latest).toBeDefined();
    expect(targetsTable(read("README.md"))).toBe(latest);
  });
});
