// The outbox in memory: bounded, for a proxy without Redis (records still queued are lost if the process dies).
import type { Metrics } from "../metrics/definitions.ts";
import { toStoredRecord } from "./envelope.ts";
import {
  countDropped,
  createFifo,
  type Outbox,
  type OutboxEntry,
} from "./outbox.ts";

export interface MemoryOutboxOptions {
  memoryMax: number;
}

export function createMemoryOutbox(
  options: MemoryOutboxOptions,
  deps: { metrics: Metrics },
): Outbox {
  const queue = createFifo<OutboxEntry>();
  const held = new Map<string, OutboxEntry>();
  let waiters: Array<() => void> = [];
  let seq = 0;
  let closed = false;

  const wake = () => {
    const current = waiters;
    waiters = [];
    for (const w of current) w();
  };

  return {
    kind: "memory",
    enqueue(envelope) {
      if (closed || queue.length >= options.memoryMax) {
        countDropped(deps.metrics, closed ? "shutdown" : "memory_full", 1);
        return false;
      }
      seq += 1;
      queue.push({ id: String(seq), ...toStoredRecord(envelope) });
      if (waiters.length > 0) wake();
      return true;
    },
    async take(maxRecords, waitMs, signal) {
      if (queue.length === 0 && waitMs > 0 && !closed && !signal?.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, waitMs);
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
          }
          waiters.push(done);
          signal?.addEventListener("abort", done, { once: true });
        });
      }
      const taken = queue.shift(Math.max(0, maxRecords));
      for (const entry of taken) held.set(entry.id, entry);
      return taken;
    },
    ack(entries) {
      for (const entry of entries) held.delete(entry.id);
      return Promise.resolve();
    },
    release(entries) {
      const back = entries.filter((entry) => held.delete(entry.id));
      queue.unshift(back);
    },
    keepAlive() {
      return Promise.resolve();
    },
    localCount() {
      return queue.length + held.size;
    },
    stats() {
      let oldest = queue.peek()?.timeMs;
      for (const entry of held.values()) {
        if (oldest === undefined || entry.timeMs < oldest)
          oldest = entry.timeMs;
      }
      return Promise.resolve({
        depth: queue.length + held.size,
        oldestTimeMs: oldest,
      });
    },
    flush() {
      return Promise.resolve(queue.length + held.size);
    },
    wake,
    interrupt() {
      wake();
    },
    close() {
      if (closed) return Promise.resolve(0);
      closed = true;
      wake();
      const lost = queue.clear().length + held.size;
      held.clear();
      countDropped(deps.metrics, "shutdown", lost);
      return Promise.resolve(lost);
    },
  };
}
