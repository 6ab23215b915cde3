// NDJSON line splitter for Ollama's native streams (reference/ollama-api.md §4): splits on "\n", accepts a
// final line without one, skips blank lines. Pure: the caller owns the chunks; only the unfinished line is kept.

export interface LineSplitter {
  push(chunk: Buffer): void;
  end(): void;
  /** The unfinished tail grew past the cap and was dropped (a parse error for the caller to count). */
  readonly overflowed: boolean;
}

const NEWLINE = 0x0a;

/**
 * The splitter without decoding: `onLine` gets each line as a byte range (its "\n" excluded, nothing trimmed,
 * blank lines included), valid only during the call. For callers that can read a line without building a string.
 */
export function createByteLineSplitter(
  onLine: (bytes: Buffer, start: number, end: number) => void,
  maxTailBytes = 1 << 20,
): LineSplitter {
  let tail: Buffer | undefined;
  // A data property, not a getter: an object literal with its own getter becomes a dictionary object whose accessor
  // sits in the old generation and keeps the young getter, its closure and the tap it reaches alive until the next
  // full GC — 8 KB promoted per stream (docs/performance.md; test/unit/upstream/fast-objects.test.ts).
  const splitter = {
    overflowed: false,
    push(chunk: Buffer): void {
      const bytes = tail ? Buffer.concat([tail, chunk]) : chunk;
      tail = undefined;
      let start = 0;
      let newline = bytes.indexOf(NEWLINE, start);
      while (newline !== -1) {
        onLine(bytes, start, newline);
        start = newline + 1;
        newline = bytes.indexOf(NEWLINE, start);
      }
      if (start < bytes.length) {
        if (bytes.length - start > maxTailBytes) {
          splitter.overflowed = true;
        } else {
          tail = Buffer.from(bytes.subarray(start));
        }
      }
    },
    end(): void {
      const rest = tail;
      tail = undefined;
      if (rest) onLine(rest, 0, rest.length);
    },
  };
  return splitter;
}

export function createLineSplitter(
  onLine: (line: string) => void,
  maxTailBytes = 1 << 20,
): LineSplitter {
  return createByteLineSplitter((bytes, start, end) => {
    // Trim a CR and surrounding blanks without decoding twice.
    const line = bytes.toString("utf8", start, end).trim();
    if (line !== "") onLine(line);
  }, maxTailBytes);
}
