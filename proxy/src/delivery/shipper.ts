// Drains the outbox to Loki: batches by count, bytes and time; one push in flight; retries network errors,
// timeouts, 429 and 5xx with exponential backoff and full jitter (honouring Retry-After); never resends a 400;
// acknowledges entries only after Loki answered 2xx (or refused them for good).
import { setTimeout as wait } from "node:timers/promises";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/definitions.ts";
import {
  buildPushBody,
  entryPayloadBytes,
  parseIgnoredCount,
  timeMsToNs,
  type PushLine,
  type PushOutcome,
} from "./loki-push.ts";
import { countDropped, type Outbox, type OutboxEntry } from "./outbox.ts";

export interface ShipperOptions {
  labels: Readonly<Record<string, string>>;
  batchMaxRecords: number;
  batchMaxBytes: number;
  batchWaitMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** While a batch is held (pushing, waiting to retry), its entries are re-claimed this often (Redis). */
  keepAliveIntervalMs: number;
  /** How long one idle take() waits for the first record of a batch (default 1000 ms). */
  idleTakeMs?: number;
  /**
   * Pause after a take() that found fewer records than the batch has room for (default 50 ms, never past the
   * batch's deadline): under a steady trickle each read would otherwise return a record or two, and each read
   * is a Redis round trip (measured: most of the analytics thread's CPU went to such reads).
   */
  takeGapMs?: number;
}

export interface ShipperDeps {
  outbox: Outbox;
  /** One push attempt; never throws. */
  push: (body: Buffer, signal: AbortSignal) => Promise<PushOutcome>;
  metrics: Metrics;
  logger: Logger;
  /** [0, 1) source for jitter; injectable for tests. */
  random?: () => number;
}

export interface Shipper {
  start(): void;
  /**
   * Ships without waiting for batches to fill until this process holds no more records or the deadline passes
   * (memory mode's flush). Retry waits are cut at the deadline.
   */
  drain(deadlineMs: number): Promise<void>;
  /**
   * Takes no new records and retries nothing more; a push already in flight may finish (and be acknowledged)
   * within `graceMs`, then it is aborted. Held entries go back to the outbox. Resolves when the loop has exited.
   */
  stop(graceMs: number): Promise<void>;
}

/** Retry-After values above this are treated as this (a confused proxy must not park the shipper for hours). */
export const MAX_RETRY_AFTER_MS = 300_000;

/** Exponential backoff with full jitter: uniform in [0, min(maxMs, baseMs·2^attempt)). attempt starts at 0. */
export function backoffDelayMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 40));
  return Math.floor(random() * ceiling);
}

/** The wait before retry `attempt`: the jittered backoff, but never less than Loki's Retry-After. */
export function retryDelayMs(
  attempt: number,
  retryAfterMs: number | undefined,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const backoff = backoffDelayMs(attempt, baseMs, maxMs, random);
  if (retryAfterMs === undefined) return backoff;
  return Math.max(
    Math.min(retryAfterMs, Math.max(maxMs, MAX_RETRY_AFTER_MS)),
    backoff,
  );
}

/** lokiPushDuration's `result` label. */
export function pushResultLabel(outcome: PushOutcome): string {
  const status = outcome.status;
  if (status === undefined) return "error";
  if (status === 429) return "429";
  return `${Math.floor(status / 100)}xx`;
}

interface Held extends PushLine {
  readonly entry: OutboxEntry;
  readonly bytes: number;
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  wait(Math.max(0, ms), undefined, { signal }).catch(() => undefined);

export function createShipper(
  options: ShipperOptions,
  deps: ShipperDeps,
): Shipper {
  const { outbox, metrics, logger } = deps;
  const random = deps.random ?? Math.random;
  const idleTakeMs = options.idleTakeMs ?? 1000;
  const takeGapMs = options.takeGapMs ?? 50;

  // stopSignal: no new work. hardSignal: abort the push in flight and every wait.
  const stopController = new AbortController();
  const hardController = new AbortController();
  let drainDeadline: number | undefined;
  let held: Held[] = [];
  let batchInFlight: Held[] = [];
  let loop: Promise<void> | undefined;
  let failingSince: number | undefined;

  const draining = () =>
    drainDeadline !== undefined && Date.now() < drainDeadline;

  const toHeld = (entry: OutboxEntry): Held => {
    const line = { tsNs: timeMsToNs(entry.timeMs), json: entry.json };
    return { ...line, entry, bytes: entryPayloadBytes(line) };
  };

  /** Fills a batch from `held` and the outbox until a bound is reached. Returns [] when stopping or idle. */
  async function collect(): Promise<Held[]> {
    const batch: Held[] = [];
    let bytes = 0;
    let deadline: number | undefined;
    for (;;) {
      while (held.length > 0 && batch.length < options.batchMaxRecords) {
        const next = held[0] as Held;
        if (batch.length > 0 && bytes + next.bytes > options.batchMaxBytes)
          return batch;
        held.shift();
        batch.push(next);
        bytes += next.bytes;
        deadline ??= Date.now() + options.batchWaitMs;
      }
      if (
        batch.length >= options.batchMaxRecords ||
        bytes >= options.batchMaxBytes
      )
        return batch;
      if (stopController.signal.aborted) return batch;
      let wait: number;
      if (draining()) wait = 0;
      else if (deadline === undefined) wait = idleTakeMs;
      else {
        wait = deadline - Date.now();
        if (wait <= 0) return batch;
      }
      const room = options.batchMaxRecords - batch.length;
      const taken = await outbox.take(room, wait, stopController.signal);
      for (const entry of taken) held.push(toHeld(entry));
      if (taken.length === 0 && (deadline === undefined || draining()))
        return batch;
      if (taken.length > 0 && taken.length < room && !draining()) {
        const open =
          (deadline ?? Date.now() + options.batchWaitMs) - Date.now();
        await sleep(Math.min(takeGapMs, open), stopController.signal);
      }
    }
  }

  async function ack(batch: readonly Held[]): Promise<void> {
    await outbox.ack(batch.map((h) => h.entry));
  }

  /**
   * Pushes one batch until it is settled. Returns false when the shipper stopped before that (entries released).
   */
  async function deliver(batch: Held[]): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      const body = buildPushBody(options.labels, batch);
      const started = performance.now();
      const outcome = await deps.push(body, hardController.signal);
      metrics.lokiPushDuration.observe(
        { result: pushResultLabel(outcome) },
        (performance.now() - started) / 1000,
      );

      switch (outcome.kind) {
        case "ok": {
          metrics.records.inc({ outcome: "shipped" }, batch.length);
          if (failingSince !== undefined) {
            logger.info(
              { downMs: Date.now() - failingSince },
              "Loki push succeeded again",
            );
            failingSince = undefined;
          }
          await ack(batch);
          return true;
        }
        case "rejected": {
          // Loki stored the valid entries and refused the rest (§2.3): resending would duplicate the first and
          // fail the second again. Count what Loki says it ignored, or the whole batch when it doesn't say.
          const ignored = parseIgnoredCount(outcome.reason);
          const dropped =
            ignored === undefined
              ? batch.length
              : Math.min(ignored, batch.length);
          metrics.records.inc({ outcome: "shipped" }, batch.length - dropped);
          countDropped(metrics, "rejected_400", dropped);
          logger.warn(
            {
              status: outcome.status,
              records: batch.length,
              dropped,
              reason: outcome.reason,
            },
            "Loki rejected part or all of a batch; not resending it",
          );
          await ack(batch);
          return true;
        }
        case "too_large": {
          if (batch.length > 1) {
            const half = Math.ceil(batch.length / 2);
            logger.warn(
              { records: batch.length, bytes: body.length },
              "Loki answered 413; splitting the batch",
            );
            const first = batch.slice(0, half);
            const second = batch.slice(half);
            if (!(await deliver(first))) {
              outbox.release(second.map((h) => h.entry));
              return false;
            }
            return deliver(second);
          }
          countDropped(metrics, "too_large", 1);
          logger.warn(
            { status: outcome.status, reason: outcome.reason },
            "Loki refused a single record as too large; dropped",
          );
          await ack(batch);
          return true;
        }
        case "retry": {
          // Stopping: a batch that failed is not retried any more (Redis keeps it pending for a later claim; memory
          // mode has already drained as far as its deadline allowed).
          if (stopController.signal.aborted || hardController.signal.aborted) {
            outbox.release(batch.map((h) => h.entry));
            return false;
          }
          metrics.records.inc({ outcome: "retried" }, batch.length);
          let wait = retryDelayMs(
            attempt,
            outcome.retryAfterMs,
            options.retryBaseMs,
            options.retryMaxMs,
            random,
          );
          if (drainDeadline !== undefined && !stopController.signal.aborted)
            wait = Math.min(wait, Math.max(0, drainDeadline - Date.now()));
          const details = {
            status: outcome.status,
            reason: outcome.reason,
            attempt: attempt + 1,
            records: batch.length,
            retryInMs: wait,
          };
          if (failingSince === undefined) {
            failingSince = Date.now();
            logger.warn(details, "Loki push failed; retrying with backoff");
          } else if ((attempt + 1) % 10 === 0) {
            logger.warn(details, "Loki push still failing");
          } else logger.debug(details, "Loki push failed");
          attempt += 1;
          await sleep(wait, stopController.signal);
          if (stopController.signal.aborted || hardController.signal.aborted) {
            outbox.release(batch.map((h) => h.entry));
            return false;
          }
          break;
        }
      }
    }
  }

  async function run(): Promise<void> {
    while (!hardController.signal.aborted) {
      try {
        const collectStarted = Date.now();
        const batch = await collect();
        if (batch.length === 0) {
          if (stopController.signal.aborted && held.length === 0) break;
          // An outbox that answers [] at once (closed, or reconnecting) must not turn this into a busy loop.
          if (Date.now() - collectStarted < 5)
            await sleep(draining() ? 5 : 50, stopController.signal);
          continue;
        }
        batchInFlight = batch;
        const keepAlive =
          outbox.kind === "redis"
            ? setInterval(() => {
                void outbox.keepAlive(
                  [...batchInFlight, ...held].map((h) => h.entry),
                );
              }, options.keepAliveIntervalMs)
            : undefined;
        let settled: boolean;
        try {
          settled = await deliver(batch);
        } finally {
          if (keepAlive !== undefined) clearInterval(keepAlive);
          batchInFlight = [];
        }
        if (!settled) break; // stopped while retrying: the batch went back to the outbox
      } catch (error) {
        // Not expected (push and outbox never throw); keep the loop alive rather than stop shipping for good.
        logger.error({ err: error }, "analytics shipper loop error");
        await sleep(1000, hardController.signal);
      }
    }
    if (held.length > 0) {
      outbox.release(held.map((h) => h.entry));
      held = [];
    }
  }

  return {
    start() {
      loop ??= run();
    },
    async drain(deadlineMs) {
      drainDeadline = deadlineMs;
      // A take() waiting for a batch to fill must return now.
      outbox.wake();
      try {
        while (
          Date.now() < deadlineMs &&
          loop !== undefined &&
          (outbox.localCount() > 0 || batchInFlight.length > 0)
        ) {
          await sleep(
            Math.min(10, deadlineMs - Date.now()),
            hardController.signal,
          );
        }
      } finally {
        drainDeadline = undefined;
      }
    },
    async stop(graceMs) {
      stopController.abort();
      const hard = () => {
        hardController.abort();
        outbox.interrupt();
      };
      let timer: NodeJS.Timeout | undefined;
      if (graceMs <= 0) hard();
      else timer = setTimeout(hard, graceMs);
      try {
        await loop;
      } finally {
        if (timer !== undefined) clearTimeout(timer);
        if (!hardController.signal.aborted) hardController.abort();
      }
    },
  };
}
