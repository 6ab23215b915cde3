// The outbox between the request path and the shipper, as both kinds share it: its interface, the drop counter
// and a FIFO. The kinds: memory-outbox.ts (bounded, in this process) and redis-outbox.ts (a Redis Stream read
// through a consumer group). enqueue() is synchronous and never waits on Redis; nothing here knows about Loki.
import { RECORD_DROP_REASONS, type Metrics } from "../metrics/definitions.ts";
import type { RecordEnvelope, StoredRecord } from "./envelope.ts";

export interface OutboxEntry extends StoredRecord {
  /** Redis stream entry id, or a process-local sequence number in memory mode. */
  readonly id: string;
}

export interface OutboxStats {
  /** Records not yet acknowledged: stream length (acked entries are deleted) plus the local buffer. */
  depth: number;
  /** timeMs of the oldest record still waiting, if any. */
  oldestTimeMs: number | undefined;
}

export interface Outbox {
  readonly kind: "memory" | "redis";
  /** Synchronous and bounded. Returns false (and counts a `memory_full` drop) when the local bound is hit. */
  enqueue(envelope: RecordEnvelope): boolean;
  /**
   * Up to `maxRecords` entries, waiting at most `waitMs` (≈; Redis blocks ≤ 1 s per call) when none are ready.
   * Taken entries belong to the caller until ack() or release(). Never rejects.
   */
  take(
    maxRecords: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<OutboxEntry[]>;
  /** Done with these entries (shipped or permanently dropped): memory forgets them, Redis XACKs and XDELs. */
  ack(entries: readonly OutboxEntry[]): Promise<void>;
  /** Hand entries back unshipped: memory puts them at the front; Redis leaves them pending for a later claim. */
  release(entries: readonly OutboxEntry[]): void;
  /** Redis: resets the idle time of held entries so no other replica claims them during long retries. */
  keepAlive(entries: readonly OutboxEntry[]): Promise<void>;
  /** Records queued in this process and not yet handed over (memory queue + held; Redis: the local buffer). */
  localCount(): number;
  stats(): Promise<OutboxStats>;
  /** Redis: moves the local buffer into the stream, until empty or the deadline. Returns how many are left. */
  flush(deadlineMs: number): Promise<number>;
  /** Memory: a take() waiting for records returns now. Redis: no-op (a blocked read ends within 1 s). */
  wake(): void;
  /** Stops a blocked take() for good (the shipper is going away). */
  interrupt(): void;
  /** Releases connections; counts records still held locally as dropped (`shutdown`) and returns that count. */
  close(): Promise<number>;
}

export type DropReason = (typeof RECORD_DROP_REASONS)[number];

/** The one place records are counted as lost: records{outcome="dropped"} and records_dropped{reason}. */
export function countDropped(
  metrics: Metrics,
  reason: DropReason,
  count: number,
): void {
  if (count <= 0) return;
  metrics.records.inc({ outcome: "dropped" }, count);
  metrics.recordsDropped.inc({ reason }, count);
}

/** FIFO with O(1) amortised push/shift and bulk front re-insertion. */
export function createFifo<T>() {
  let items: T[] = [];
  let head = 0;
  const compact = () => {
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  };
  return {
    get length(): number {
      return items.length - head;
    },
    push(item: T): void {
      items.push(item);
    },
    peek(): T | undefined {
      return items[head];
    },
    shift(count: number): T[] {
      const taken = items.slice(head, head + count);
      head += taken.length;
      if (head === items.length) {
        items = [];
        head = 0;
      } else compact();
      return taken;
    },
    unshift(front: readonly T[]): void {
      if (front.length === 0) return;
      items = [...front, ...items.slice(head)];
      head = 0;
    },
    clear(): T[] {
      const rest = items.slice(head);
      items = [];
      head = 0;
      return rest;
    },
  };
}
