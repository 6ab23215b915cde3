// Wire transcripts under test/fixtures/transcripts/, as bytes.
import { readFileSync } from "node:fs";

export function transcript(name: string): Buffer {
  return readFileSync(
    new URL(`../fixtures/transcripts/${name}`, import.meta.url),
  );
}

/** Every way to cut `bytes` in two, including cuts inside multi-byte UTF-8 characters. */
export function* splitsInTwo(bytes: Buffer): Generator<Buffer[]> {
  for (let offset = 1; offset < bytes.length; offset++) {
    yield [bytes.subarray(0, offset), bytes.subarray(offset)];
  }
}

export function oneBytePerChunk(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length }, (_, i) =>
    bytes.subarray(i, i + 1),
  );
}
