// The outbox in Redis: a Redis Stream written in chunks by one script call and read through a consumer group, so
// that records survive restarts and a dead replica's records are taken over. enqueue() only fills a bounded
// local buffer; a failing Redis never reaches the request path. Owns the Redis connections.
import { setTimeout as wait } from "node:timers/promises";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/definitions.ts";
import type { RecordEnvelope } from "./envelope.ts";
import { countDropped, createFifo, type Outbox } from "./outbox.ts";
import {
  createRecentWrites,
  lostOnReconnect,
  REWRITE_WINDOW_MS,
} from "./recent-writes.ts";
import { createStreamConsumer } from "./redis-consumer.ts";
import {
  XADD_BATCH,
  errorMessage,
  idTimeMs,
  isConnectionError,
  parseFields,
  parseStreamEntries,
  redactUrl,
  xaddBatchArgs,
  type OutboxWriter,
} from "./redis-stream.ts";

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
const delay = (ms: number, signal?: AbortSignal): Promise<void> =>
  wait(Math.max(0, ms), undefined, { signal }).catch(() => undefined);

export interface RedisOutboxOptions {
  redisUrl: string;
  streamKey: string;
  consumerGroup: string;
  consumerName: string;
  /** Approximate MAXLEN of the stream (XADD MAXLEN ~). */
  outboxMax: number;
  /** Bound of the local buffer that holds records until Redis has them. */
  memoryMax: number;
  /** Pending entries idle longer than this are claimed from other consumers (XAUTOCLAIM). */
  claimIdleMs: number;
  /** XADDs per MULTI (default 500). */
  writeChunkMax?: number;
  /** How long before losing Redis a write is written again when Redis comes back without it (recent-writes.ts). */
  rewriteWindowMs?: number;
}

const WRITE_RETRY_MS = 500;

export function createRedisOutbox(
  options: RedisOutboxOptions,
  deps: { metrics: Metrics; logger: Logger },
): Outbox {
  const { metrics } = deps;
  const logger = deps.logger;
  const key = options.streamKey;
  const group = options.consumerGroup;
  const me = options.consumerName;
  const writeChunkMax = options.writeChunkMax ?? 500;
  // No offline queue: a command while disconnected fails at once instead of piling up in memory. No retries of
  // in-flight commands (maxRetriesPerRequest 0, no auto-resend): a failed XADD batch goes back to our own bounded
  // buffer, so nothing is written twice behind our back. Reconnect forever with a capped delay.
  const base: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    connectTimeout: 5000,
    keepAlive: 10_000,
    enableReadyCheck: true,
  };
  const writer = new Redis(options.redisUrl, {
    ...base,
    // A hung server must not wedge the writer: the batch returns to the buffer and is retried.
    commandTimeout: 10_000,
    connectionName: `${me}:outbox-writer`,
  }) as OutboxWriter;
  writer.defineCommand("xaddBatch", { numberOfKeys: 1, lua: XADD_BATCH });
  // Blocking reads get their own connection so XADDs never queue behind an XREADGROUP BLOCK.
  const reader = new Redis(options.redisUrl, {
    ...base,
    // Client-side guard for a BLOCK on a dead TCP connection; generous grace so a busy server is not cut off.
    blockingTimeout: 30_000,
    blockingTimeoutGrace: 5000,
    connectionName: `${me}:outbox-reader`,
  });
  const consumer = createStreamConsumer(
    reader,
    writer,
    {
      streamKey: key,
      consumerGroup: group,
      consumerName: me,
      claimIdleMs: options.claimIdleMs,
    },
    deps,
  );

  let down = false;
  const onError = (role: string) => (error: Error) => {
    if (!down) {
      down = true;
      logger.warn(
        { err: error.message, role, redis: redactUrl(options.redisUrl) },
        "redis outbox unavailable; records are buffered in memory (bounded) until it returns",
      );
    } else {
      logger.debug({ err: error.message, role }, "redis outbox error");
    }
  };
  writer.on("error", onError("writer"));
  reader.on("error", onError("reader"));
  writer.on("close", () => recent.disconnected(Date.now()));
  writer.on("ready", () => {
    if (down) {
      down = false;
      logger.info("redis outbox reachable again; moving buffered records");
    }
    // Writes wait until it is known whether this Redis still has the last ones.
    checkingServer = true;
    void rewriteLostWrites().finally(() => {
      checkingServer = false;
      scheduleDrain();
    });
  });
  reader.on("ready", () => consumer.reconnected());

  const buffer = createFifo<RecordEnvelope>();
  const recent = createRecentWrites(
    options.memoryMax,
    options.rewriteWindowMs ?? REWRITE_WINDOW_MS,
  );
  let checkingServer = false;
  let writing: Promise<void> | undefined;
  let writingCount = 0;
  let drainScheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let interrupted = false;
  const interruptController = new AbortController();

  let lastStreamLength = 0;
  let lastWriteError: string | undefined;
  let lastReadError: string | undefined;

  function scheduleDrain(): void {
    if (drainScheduled || writing !== undefined || closed) return;
    if (buffer.length === 0) return;
    drainScheduled = true;
    setImmediate(() => {
      drainScheduled = false;
      if (writing !== undefined) return;
      writing = drain().finally(() => {
        writing = undefined;
        // An enqueue that ran while the last write was settling found `writing` set and left it to us.
        if (writer.status === "ready") scheduleDrain();
      });
    });
  }

  function scheduleRetry(): void {
    if (retryTimer !== undefined || closed) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      scheduleDrain();
    }, WRITE_RETRY_MS);
  }

  async function drain(): Promise<void> {
    while (buffer.length > 0 && !closed) {
      if (writer.status !== "ready" || checkingServer) return; // the 'ready' handler resumes
      const chunk = buffer.shift(writeChunkMax);
      writingCount = chunk.length;
      try {
        const trimmed = await writeChunk(chunk);
        lastWriteError = undefined;
        countDropped(metrics, "outbox_trimmed", trimmed);
        if (trimmed > 0) {
          logger.warn(
            { trimmed, outboxMax: options.outboxMax },
            "redis outbox is full: MAXLEN trimmed unshipped records",
          );
        }
      } catch (error) {
        buffer.unshift(chunk);
        const message = errorMessage(error);
        // Connection trouble is already reported by the 'error' handler; a server-side refusal (OOM under
        // maxmemory, WRONGTYPE, NOPERM) is not, so it is logged once per streak.
        if (!isConnectionError(error) && message !== lastWriteError)
          logger.warn(
            { err: message, buffered: buffer.length },
            "redis refused the outbox write; records stay in memory (bounded) and are retried",
          );
        else
          logger.debug({ err: message }, "XADD batch failed; kept in memory");
        lastWriteError = message;
        scheduleRetry();
        return;
      } finally {
        writingCount = 0;
      }
    }
  }

  /** One atomic script call (XADD_BATCH); every entry still in the stream is unacknowledged (acked ones are
   * XDELed), so the trimmed ones were never shipped. */
  async function writeChunk(chunk: readonly RecordEnvelope[]): Promise<number> {
    const args = xaddBatchArgs(options.outboxMax, chunk);
    const [trimmed, after, lastId] = await writer.xaddBatch(key, ...args);
    recent.written(args, String(lastId), Date.now());
    lastStreamLength = Number(after);
    return Math.max(0, Number(trimmed));
  }

  /** After a reconnect, the writes a new Redis process lacks go back to the front of the buffer. */
  async function rewriteLostWrites(): Promise<void> {
    const records = await lostOnReconnect(recent, writer, key);
    if (records.length === 0) return;
    buffer.unshift(records);
    logger.warn(
      { records: records.length },
      "redis is a new process: writing again the records of its last seconds that its stream lacks (Loki keeps one copy of those already shipped)",
    );
  }

  return {
    kind: "redis",
    enqueue(envelope) {
      if (closed || buffer.length >= options.memoryMax) {
        countDropped(metrics, closed ? "shutdown" : "memory_full", 1);
        return false;
      }
      buffer.push(envelope);
      scheduleDrain();
      return true;
    },
    async take(maxRecords, waitMs, signal) {
      if (closed || interrupted) return [];
      if (reader.status !== "ready") {
        await delay(
          Math.min(waitMs, 200),
          AbortSignal.any([
            interruptController.signal,
            ...(signal ? [signal] : []),
          ]),
        );
        return [];
      }
      try {
        const entries = await consumer.take(Math.max(1, maxRecords), waitMs);
        lastReadError = undefined;
        return entries;
      } catch (error) {
        const message = errorMessage(error);
        if (message.startsWith("NOGROUP")) {
          // The stream or group vanished (Redis restarted without persistence, or the key was deleted).
          consumer.groupLost();
          logger.warn(
            { stream: key, group },
            "outbox consumer group missing; recreating it",
          );
        } else if (!closed && !interrupted) {
          if (!isConnectionError(error) && message !== lastReadError)
            logger.warn({ err: message, stream: key }, "outbox read failed");
          else logger.debug({ err: message }, "outbox read failed");
          lastReadError = message;
          await delay(Math.min(waitMs, 200), interruptController.signal);
        }
        return [];
      }
    },
    ack(entries) {
      return consumer.ack(entries.map((entry) => entry.id));
    },
    release() {
      // Entries stay in this consumer's pending list; after claimIdleMs any replica (or this consumer name after a
      // restart) picks them up again.
    },
    async keepAlive(entries) {
      if (entries.length === 0 || writer.status !== "ready") return;
      try {
        // XCLAIM with min-idle 0 onto ourselves resets the idle time; JUSTID leaves the delivery count alone.
        await writer.call("XCLAIM", [
          key,
          group,
          me,
          0,
          ...entries.map((entry) => entry.id),
          "JUSTID",
        ]);
      } catch (error) {
        logger.debug({ err: errorMessage(error) }, "XCLAIM keep-alive failed");
      }
    },
    localCount() {
      return buffer.length + writingCount;
    },
    async stats() {
      let oldest = buffer.peek()?.timeMs;
      let streamLength = lastStreamLength;
      if (writer.status === "ready") {
        try {
          const results = await writer
            .pipeline()
            .xlen(key)
            .xrange(key, "-", "+", "COUNT", 1)
            .exec();
          if (results !== null) {
            const [lenResult, rangeResult] = results;
            if (lenResult && !lenResult[0]) streamLength = Number(lenResult[1]);
            if (rangeResult && !rangeResult[0]) {
              const first = parseStreamEntries(rangeResult[1])[0];
              if (first !== undefined) {
                const t = parseFields(first[1])?.timeMs ?? idTimeMs(first[0]);
                if (t !== undefined && (oldest === undefined || t < oldest))
                  oldest = t;
              }
            }
            lastStreamLength = streamLength;
          }
        } catch (error) {
          logger.debug({ err: errorMessage(error) }, "outbox stats failed");
        }
      }
      return {
        depth: streamLength + buffer.length + writingCount,
        oldestTimeMs: oldest,
      };
    },
    async flush(deadlineMs) {
      while (
        Date.now() < deadlineMs &&
        (buffer.length > 0 || writing !== undefined)
      ) {
        scheduleDrain();
        await delay(Math.min(10, deadlineMs - Date.now()));
      }
      return buffer.length + writingCount;
    },
    wake() {
      // XREADGROUP BLOCK is capped at MAX_BLOCK_MS; nothing to shorten.
    },
    interrupt() {
      if (interrupted) return;
      interrupted = true;
      interruptController.abort();
      // Ends a blocked XREADGROUP now. Entries it had just delivered stay pending and are claimed later.
      reader.disconnect();
    },
    async close() {
      if (closed) return 0;
      if (writing !== undefined) {
        await Promise.race([writing, delay(1000)]);
      }
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      interrupted = true;
      interruptController.abort();
      reader.disconnect();
      const lost = buffer.clear().length + writingCount;
      countDropped(metrics, "shutdown", lost);
      if (lost > 0) {
        logger.warn(
          { lost },
          "records never reached redis and are lost at shutdown",
        );
      }
      await consumer.flushAcks();
      if (writer.status === "ready") {
        try {
          await Promise.race([writer.quit(), delay(1000)]);
        } catch {
          // Falls through to disconnect().
        }
      }
      writer.disconnect();
      return lost;
    },
  };
}
