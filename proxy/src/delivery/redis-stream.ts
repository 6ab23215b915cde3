// The outbox stream's wire format in Redis: the entry fields, the batch-append script, reply parsing, and how a
// Redis failure is told apart from a refusal. Pure; shared by the outbox's writer and its consumer.
import type { Redis } from "ioredis";
import {
  escapeLine,
  type RecordEnvelope,
  type StoredRecord,
} from "./envelope.ts";

// Stream entry fields. Short names keep the stream small; request_id is there for people reading the stream; the
// line is the record exactly as shipped. Replicas of different versions share one stream during a rolling
// upgrade, so these do not change: a reader that finds no `line` drops the entry as malformed.
const FIELD_TIME = "time_ms";
const FIELD_REQUEST_ID = "request_id";
const FIELD_LINE = "line";

/**
 * KEYS: the stream. ARGV: MAXLEN, then time, request id and line of each record. Returns how many entries MAXLEN
 * trimmed (length before + added − length after), the length after and the id of the last entry added. One script
 * call per chunk rather than a MULTI of one XADD per record: the per-command client work (a command object, a
 * promise, a socket write each) was most of the analytics thread's CPU.
 */
export const XADD_BATCH = `
local before = redis.call('XLEN', KEYS[1])
local added = 0
local last = ''
for i = 2, #ARGV, 3 do
  last = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    '${FIELD_TIME}', ARGV[i], '${FIELD_REQUEST_ID}', ARGV[i + 1], '${FIELD_LINE}', ARGV[i + 2])
  added = added + 1
end
local after = redis.call('XLEN', KEYS[1])
return {before + added - after, after, last}
`;

/** XADD_BATCH's ARGV: MAXLEN, then time, request id and line (bytes) of each record. */
export type BatchArgs = ReadonlyArray<string | number | Buffer>;

/** The writer connection with XADD_BATCH defined (ioredis runs it by EVALSHA, loading it when Redis lacks it). */
export type OutboxWriter = Redis & {
  xaddBatch(
    key: string,
    ...args: Array<string | number | Buffer>
  ): Promise<[number, number, string]>;
};

/** XADD_BATCH's ARGV for `chunk`. */
export function xaddBatchArgs(
  maxLen: number,
  chunk: readonly RecordEnvelope[],
): BatchArgs {
  const args: Array<string | number | Buffer> = [maxLen];
  // Lines as bytes: ioredis copies them into one command buffer. Given strings, it concatenates the whole command
  // into one string, and encoding that rope on the socket write cost 7.5 µs per 1.3 KB line against 1.25 µs to
  // encode the line alone (docs/performance.md, "The outbox's bytes").
  for (const envelope of chunk)
    args.push(
      String(envelope.timeMs),
      envelope.requestId,
      Buffer.from(envelope.line),
    );
  return args;
}

/** The records of an XADD_BATCH's ARGV, to write them again. */
export function recordsOfBatchArgs(args: BatchArgs): RecordEnvelope[] {
  const records: RecordEnvelope[] = [];
  for (let i = 1; i + 2 < args.length; i += 3)
    records.push({
      timeMs: Number(args[i]),
      requestId: String(args[i + 1]),
      line: String(args[i + 2]),
    });
  return records;
}

/** The `run_id` of an `INFO server` reply: it changes when the Redis process does. */
export function runIdOf(info: string): string | undefined {
  return /^run_id:([0-9a-f]+)\r?$/m.exec(info)?.[1];
}

/** A bulk string as ioredis returns it: a string, or a Buffer from the *Buffer commands. */
type Bulk = string | Buffer;

/** Entries of a stream reply: id and fields, fields null for an entry deleted while pending. */
export type StreamReply = Array<[string, Bulk[] | null]>;

export function isConnectionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  // ioredis client-side failures; Redis server errors are ReplyErrors with an upper-case code instead.
  return (
    !/^[A-Z]+ /.test(message) || /^(LOADING|BUSY|MASTERDOWN)/.test(message)
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A stream entry's fields → the record with its line escaped (as bytes), or undefined when a field is missing or
 * unreadable. The decoded and escaped strings die here; only the bytes wait with a batch (StoredRecord.json).
 */
export function parseFields(
  fields: readonly Bulk[] | null,
): StoredRecord | undefined {
  if (fields === null) return undefined;
  let timeMs: number | undefined;
  let line: Bulk | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = String(fields[i]);
    const value = fields[i + 1] as Bulk;
    if (name === FIELD_LINE) line = value;
    else if (name === FIELD_TIME) timeMs = Number(String(value));
  }
  if (timeMs === undefined || !Number.isFinite(timeMs) || line === undefined)
    return undefined;
  return { timeMs, json: escapeLine(String(line)) };
}

/** XREADGROUP / XRANGE / XAUTOCLAIM entries, as strings or Buffers → entries (null fields: deleted while pending). */
export function parseStreamEntries(raw: unknown): StreamReply {
  if (!Array.isArray(raw)) return [];
  const out: StreamReply = [];
  for (const item of raw) {
    if (!Array.isArray(item)) continue;
    const id: unknown = item[0];
    if (typeof id !== "string" && !Buffer.isBuffer(id)) continue;
    const fields = Array.isArray(item[1]) ? (item[1] as Bulk[]) : null;
    out.push([String(id), fields]);
  }
  return out;
}

/** Milliseconds part of a stream id ("1700000000000-3"). */
export function idTimeMs(id: string): number | undefined {
  const ms = Number(id.split("-", 1)[0]);
  return Number.isFinite(ms) ? ms : undefined;
}

/** redis://user:secret@host → redis://user:***@host for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return "(unparseable url)";
  }
}
