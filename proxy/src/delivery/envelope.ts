// What travels from the record builder through the outbox to the shipper: one finished record line. Its own
// module so that the delivery modules (outbox, shipper, pipeline) depend on it, not on each other.

export interface RecordEnvelope {
  readonly timeMs: number;
  readonly requestId: string;
  /** The record's compact JSON, already redacted and truncated. */
  readonly line: string;
}
