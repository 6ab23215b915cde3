// What travels from the record builder through the outbox to the shipper: one finished record line. Its own
// module so that the delivery modules (outbox, shipper, pipeline) depend on it, not on each other.

export interface RecordEnvelope {
  readonly timeMs: number;
  readonly requestId: string;
  /** The record's compact JSON, already redacted and truncated. */
  readonly line: string;
}

/** A record as the outbox keeps it and hands it to the shipper: the line escaped once, ready for a push body. */
export interface StoredRecord {
  readonly timeMs: number;
  /**
   * `JSON.stringify(line)`, the line as a JSON string literal. From Redis it is held as bytes: a batch waits up to
   * LOKI_BATCH_WAIT_MS to fill, and lines held as strings that long were most of what the analytics thread's
   * young generation promoted (docs/performance.md, "The outbox's bytes").
   */
  readonly json: string | Buffer;
}

/** The line as the push body embeds it, as bytes. */
export function escapeLine(line: string): Buffer {
  return Buffer.from(JSON.stringify(line));
}

/** The envelope as the memory outbox keeps it (in this process's heap anyway). */
export function toStoredRecord(envelope: RecordEnvelope): StoredRecord {
  return {
    timeMs: envelope.timeMs,
    json: JSON.stringify(envelope.line),
  };
}
