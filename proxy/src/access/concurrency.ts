// The bounded FIFO wait queue in front of the global concurrency slots: a burst waits (up to QUEUE_TIMEOUT_MS,
// at most QUEUE_MAX requests) instead of overloading Ollama. Slots themselves live in a LimitStore; this module
// only decides who tries next. FIFO holds within one process; across replicas each process polls for slots
// freed elsewhere (a slot freed here is handed on at once). The head of the queue asks for slots together, in one
// store call: with Redis, admission costs a round trip per burst rather than one per request in a row.

export type QueueOutcome =
  | { readonly ok: true; readonly waitedMs: number }
  | {
      readonly ok: false;
      readonly reason: "queue_full" | "queue_timeout" | "aborted" | "closed";
      readonly waitedMs: number;
    }
  | {
      readonly ok: false;
      readonly reason: "error";
      readonly error: unknown;
      readonly waitedMs: number;
    };

export interface SlotQueueOptions {
  /**
   * Takes free slots for the first of `leaseIds`, in order; resolves with how many. May reject (e.g. Redis down
   * with LIMITS_ON_REDIS_ERROR=closed).
   */
  readonly tryAcquire: (leaseIds: readonly string[]) => Promise<number>;
  /** Frees a slot taken for a waiter that timed out or left while its attempt was in flight. */
  readonly giveBack: (leaseId: string) => void;
  /** Requests allowed to wait; 0 means refuse at once when no slot is free. */
  readonly maxWaiting: number;
  readonly timeoutMs: number;
  /** Retry interval while requests wait: slots freed by other replicas are only seen by asking again. */
  readonly pollMs: number;
  /** Most waiters asked for in one call (default 64). */
  readonly batchMax?: number;
  readonly now?: () => number;
}

export interface SlotQueue {
  /** Resolves when the request holds a slot, or with why it does not; never rejects. */
  acquire(leaseId: string, signal?: AbortSignal): Promise<QueueOutcome>;
  /** A slot was freed: let the head of the queue try now rather than at the next poll. */
  notify(): void;
  /** Requests currently waiting. */
  readonly waiting: number;
  /** Settles every waiter with `closed`. */
  close(): void;
}

interface Waiter {
  readonly leaseId: string;
  readonly enqueuedAt: number;
  /** "new" until its first attempt found no slot; only "waiting" ones count against maxWaiting. */
  state: "new" | "waiting";
  settled: boolean;
  settle(outcome: QueueOutcome): void;
}

export function createSlotQueue(options: SlotQueueOptions): SlotQueue {
  const now = options.now ?? Date.now;
  const batchMax = Math.max(1, options.batchMax ?? 64);
  const queue: Waiter[] = [];
  let pumping = false;
  let again = false;
  let closed = false;
  let poll: NodeJS.Timeout | undefined;

  const remove = (waiter: Waiter) => {
    const index = queue.indexOf(waiter);
    if (index !== -1) queue.splice(index, 1);
  };

  const schedulePoll = () => {
    if (poll !== undefined || queue.length === 0 || closed) return;
    poll = setTimeout(() => {
      poll = undefined;
      void pump();
    }, options.pollMs);
    poll.unref();
  };

  /** After the head found no slot: the new arrivals behind it either start waiting or find the queue full. */
  const classifyNewcomers = () => {
    let waiting = queue.filter((waiter) => waiter.state === "waiting").length;
    for (const waiter of [...queue]) {
      if (waiter.state !== "new") continue;
      if (waiting >= options.maxWaiting) {
        remove(waiter);
        waiter.settle({
          ok: false,
          reason: "queue_full",
          waitedMs: now() - waiter.enqueuedAt,
        });
      } else {
        waiter.state = "waiting";
        waiting++;
      }
    }
  };

  const pump = async (): Promise<void> => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        while (queue.length > 0 && !closed) {
          const batch = queue.slice(0, batchMax);
          let acquired: number;
          try {
            acquired = await options.tryAcquire(
              batch.map((waiter) => waiter.leaseId),
            );
          } catch (error) {
            for (const waiter of batch) {
              remove(waiter);
              waiter.settle({
                ok: false,
                reason: "error",
                error,
                waitedMs: now() - waiter.enqueuedAt,
              });
            }
            continue;
          }
          for (const waiter of batch.slice(0, acquired)) {
            // It timed out or left while we asked; the slot is not its to keep.
            if (waiter.settled) options.giveBack(waiter.leaseId);
            else {
              remove(waiter);
              waiter.settle({ ok: true, waitedMs: now() - waiter.enqueuedAt });
            }
          }
          if (acquired < batch.length) {
            classifyNewcomers();
            break;
          }
        }
      } while (again && queue.length > 0 && !closed);
    } finally {
      pumping = false;
      schedulePoll();
    }
  };

  return {
    acquire(leaseId, signal) {
      if (closed)
        return Promise.resolve({ ok: false, reason: "closed", waitedMs: 0 });
      if (signal?.aborted)
        return Promise.resolve({ ok: false, reason: "aborted", waitedMs: 0 });
      return new Promise<QueueOutcome>((resolve) => {
        const enqueuedAt = now();
        const timer = setTimeout(() => {
          remove(waiter);
          waiter.settle({
            ok: false,
            reason: "queue_timeout",
            waitedMs: now() - enqueuedAt,
          });
        }, options.timeoutMs);
        const onAbort = () => {
          remove(waiter);
          waiter.settle({
            ok: false,
            reason: "aborted",
            waitedMs: now() - enqueuedAt,
          });
        };
        const waiter: Waiter = {
          leaseId,
          enqueuedAt,
          state: "new",
          settled: false,
          settle(outcome) {
            if (waiter.settled) return;
            waiter.settled = true;
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            resolve(outcome);
          },
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        queue.push(waiter);
        void pump();
      });
    },
    notify() {
      if (poll !== undefined) {
        clearTimeout(poll);
        poll = undefined;
      }
      void pump();
    },
    get waiting() {
      return queue.length;
    },
    close() {
      closed = true;
      if (poll !== undefined) clearTimeout(poll);
      poll = undefined;
      for (const waiter of queue.splice(0))
        waiter.settle({
          ok: false,
          reason: "closed",
          waitedMs: now() - waiter.enqueuedAt,
        });
    },
  };
}
