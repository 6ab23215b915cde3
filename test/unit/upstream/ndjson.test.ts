// The byte splitter behind the tap hands over exactly the lines the string splitter decodes, however the
// stream is cut into chunks.
import { describe, expect, it } from "vitest";
import {
  createByteLineSplitter,
  createLineSplitter,
} from "@proxy/upstream/ndjson.ts";
import {
  oneBytePerChunk,
  splitsInTwo,
  transcript,
} from "../../helpers/transcripts.ts";

function viaStrings(chunks: Buffer[]): string[] {
  const lines: string[] = [];
  const splitter = createLineSplitter((line) => lines.push(line));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

function viaBytes(chunks: Buffer[]): string[] {
  const lines: string[] = [];
  const splitter = createByteLineSplitter((bytes, start, end) => {
    const line = bytes.toString("utf8", start, end).trim();
    if (line !== "") lines.push(line);
  });
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

describe("createByteLineSplitter", () => {
  it.each([
    "generate-stream.ndjson",
    "chat-stream-thinking-tools.ndjson",
    "chat-stream-no-done.ndjson",
  ])("yields the string splitter's lines for %s, however it is cut", (file) => {
    const bytes = transcript(file);
    const expected = viaStrings([bytes]);
    expect(expected.length).toBeGreaterThan(1);
    expect(viaBytes(oneBytePerChunk(bytes))).toEqual(expected);
    for (const parts of splitsInTwo(bytes))
      expect(viaBytes(parts)).toEqual(expected);
  });

  it("keeps blank lines and CRs for the caller, and flushes a last line without a newline", () => {
    const seen: string[] = [];
    const splitter = createByteLineSplitter((bytes, start, end) =>
      seen.push(bytes.toString("utf8", start, end)),
    );
    splitter.push(Buffer.from('{"a":1}\r\n\n{"b"'));
    splitter.push(Buffer.from(":2}"));
    splitter.end();
    expect(seen).toEqual(['{"a":1}\r', "", '{"b":2}']);
  });

  it("drops a tail past the cap and says so", () => {
    const splitter = createByteLineSplitter(() => undefined, 8);
    splitter.push(Buffer.from("0123456789"));
    expect(splitter.overflowed).toBe(true);
  });
});
