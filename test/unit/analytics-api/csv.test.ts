import { describe, expect, it } from "vitest";
import {
  csvCell,
  csvHeader,
  csvRow,
  RECORD_COLUMNS,
  recordToCsvRow,
} from "@proxy/analytics-api/csv.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

/** A minimal RFC 4180 reader, to prove that what csvRow writes reads back cell for cell. */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) throw new Error("unterminated row");
  return rows;
}

describe("csvCell", () => {
  it.each([
    [undefined, ""],
    [null, ""],
    [42, "42"],
    [-1.5, "-1.5"],
    [Number.NaN, ""],
    [true, "true"],
    ["plain", "plain"],
    ["a,b", '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ["two\nlines", '"two\nlines"'],
    ["cr\r", '"cr\r"'],
    [{ nested: 1 }, '"{""nested"":1}"'],
  ])("%j → %j", (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it.each([["=1+1"], ["+1"], ["-2+3"], ["@SUM(A1)"], ["\tcmd"], ["\rcmd"]])(
    "defuses the formula-like text %j with a leading quote",
    (value) => {
      expect(csvCell(value).replace(/^"/, "")).toMatch(/^'/);
    },
  );

  it("quotes a defused formula that also needs quoting", () => {
    expect(csvCell('=HYPERLINK("http://evil","x")')).toBe(
      '"\'=HYPERLINK(""http://evil"",""x"")"',
    );
  });

  it("leaves negative numbers as numbers", () => {
    expect(csvCell(-5)).toBe("-5");
  });
});

describe("csvRow", () => {
  it("ends rows with CRLF", () => {
    expect(csvRow(["a", 1, undefined, "b"])).toBe("a,1,,b\r\n");
  });

  it("round-trips hostile text through an RFC 4180 reader", () => {
    const text = HOSTILE_VALUES.map((v) => csvRow([v, "end"])).join("");
    const rows = readCsv(text);
    expect(rows).toHaveLength(HOSTILE_VALUES.length);
    rows.forEach((row, i) => {
      const original = HOSTILE_VALUES[i] ?? "";
      const expected = /^[=+\-@\t\r]/.test(original)
        ? `'${original}`
        : original;
      expect(row).toEqual([expected, "end"]);
    });
  });
});

describe("records", () => {
  it("has a header with every record field", () => {
    expect(csvHeader()).toBe(`${RECORD_COLUMNS.join(",")}\r\n`);
    expect(RECORD_COLUMNS).toContain("prompt");
    expect(RECORD_COLUMNS).toContain("ttft_ms");
  });

  it("writes a record's fields in column order and leaves unknown ones empty", () => {
    const row = recordToCsvRow(
      {
        time: 1_735_689_600_000,
        request_id: "r1",
        model: "llama3.2:latest",
        stream: true,
        status: 200,
        prompt: "user: hi, there",
      },
      ["time", "request_id", "model", "stream", "status", "ttft_ms", "prompt"],
    );
    expect(row).toBe(
      '1735689600000,r1,llama3.2:latest,true,200,,"user: hi, there"\r\n',
    );
  });
});
