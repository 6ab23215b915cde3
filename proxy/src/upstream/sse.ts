// Server-sent events splitter (text/event-stream): an event is a block of `field: value` lines ended by a blank
// line. Used for /v1/* streams, with and without `event:` lines (reference/ollama-api.md §7). Pure.

export interface SseEvent {
  /** The event's exact bytes, its terminating blank line included (for pass-through rewriting). */
  readonly raw: Buffer;
  readonly event: string | undefined;
  /** data lines joined with "\n" ("" when the event had none). */
  readonly data: string;
}

export interface SseSplitter {
  push(chunk: Buffer): void;
  /** Flushes an unterminated last event; returns its raw bytes if there was one. */
  end(): Buffer | undefined;
  readonly overflowed: boolean;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

const DATA = Buffer.from("data:");
const SPACE = 0x20;

function parseEvent(raw: Buffer, end: number): SseEvent {
  // Most events are one `data:` line: read it without splitting into lines.
  const firstNewline = raw.indexOf(NEWLINE);
  if (
    firstNewline === end - 1 &&
    end >= DATA.length + 1 &&
    raw.compare(DATA, 0, DATA.length, 0, DATA.length) === 0
  ) {
    let from = DATA.length;
    let stop = end - 1;
    if (stop > from && raw[stop - 1] === CR) stop--;
    if (from < stop && raw[from] === SPACE) from++;
    return { raw, event: undefined, data: raw.toString("utf8", from, stop) };
  }
  let event: string | undefined;
  const data: string[] = [];
  let start = 0;
  while (start < end) {
    let newline = raw.indexOf(NEWLINE, start);
    if (newline === -1 || newline > end) newline = end;
    let stop = newline;
    if (stop > start && raw[stop - 1] === CR) stop--;
    const line = raw.toString("utf8", start, stop);
    start = newline + 1;
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
  }
  return { raw, event, data: data.join("\n") };
}

export function createSseSplitter(
  onEvent: (event: SseEvent) => void,
  maxTailBytes = 1 << 20,
): SseSplitter {
  let tail: Buffer | undefined;
  // A data property, not a getter: see createByteLineSplitter (ndjson.ts).
  const splitter = {
    overflowed: false,
    push(chunk: Buffer): void {
      const bytes = tail ? Buffer.concat([tail, chunk]) : chunk;
      tail = undefined;
      let eventStart = 0;
      let lineStart = 0;
      let newline = bytes.indexOf(NEWLINE, lineStart);
      while (newline !== -1) {
        const blank =
          newline === lineStart ||
          (newline === lineStart + 1 && bytes[lineStart] === CR);
        if (blank && lineStart > eventStart) {
          const raw = bytes.subarray(eventStart, newline + 1);
          onEvent(parseEvent(raw, lineStart));
          eventStart = newline + 1;
        } else if (blank) {
          eventStart = newline + 1; // a stray blank line between events
        }
        lineStart = newline + 1;
        newline = bytes.indexOf(NEWLINE, lineStart);
      }
      if (eventStart < bytes.length) {
        if (bytes.length - eventStart > maxTailBytes)
          splitter.overflowed = true;
        else tail = Buffer.from(bytes.subarray(eventStart));
      }
    },
    end(): Buffer | undefined {
      const rest = tail;
      tail = undefined;
      if (!rest || rest.toString("utf8").trim() === "") return rest;
      onEvent(parseEvent(rest, rest.length));
      return rest;
    },
  };
  return splitter;
}
