// The outbox in Redis: a Redis Stream written in chunks by one script call and read through a consumer group, so
// that records survive restarts and a dead replica's records are taken over. enqueue() only fills a bounded
// local buffer; a failing Redis never reaches the request path. Owns the Redis connections.
import { setTimeout as wait } from "node:timers/promises";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/definitions.ts";
import type { RecordEnvelope } from "./envelope.ts";
import {
  countDropped,
  createFifo,
  type Outbox,
  type OutboxEntry,
} from "./outbox.ts";

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
}

// Stream entry fields. Short names keep the stream small; the line is the record exactly as shipped.
const FIELD_TIME = "time_ms";
const FIELD_REQUEST_ID = "request_id";
const FIELD_LINE = "line";

/**
 * KEYS: the stream. ARGV: MAXLEN, then time, request id and line of each record. Returns how many entries MAXLEN
 * trimmed (length before + added − length after) and the length after. One script call per chunk rather than a
 * MULTI of one XADD per record: the per-command client work (a command object, a promise, a socket write each)
 * was most of the analytics thread's CPU.
 */
const XADD_BATCH = `
local before = redis.call('XLEN', KEYS[1])
local added = 0
for i = 2, #ARGV, 3 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
    '${FIELD_TIME}', ARGV[i], '${FIELD_REQUEST_ID}', ARGV[i + 1], '${FIELD_LINE}', ARGV[i + 2])
  added = added + 1
end
local after = redis.call('XLEN', KEYS[1])
return {before + added - after, after}
`;

/** The writer connection with XADD_BATCH defined (ioredis runs it by EVALSHA, loading it when Redis lacks it). */
type OutboxWriter = Redis & {
  xaddBatch(
    key: string,
    ...args: Array<string | number>
  ): Promise<[number, number]>;
};

const MAX_BLOCK_MS = 1000;
const WRITE_RETRY_MS = 500;
const ACK_BACKLOG_MAX = 100_000;

type StreamReply = Array<[string, string[] | null]>;

function isConnectionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  // ioredis client-side failures; Redis server errors are ReplyErrors with an upper-case code instead.
  return (
    !/^[A-Z]+ /.test(message) || /^(LOADING|BUSY|MASTERDOWN)/.test(message)
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseFields(
  fields: readonly string[] | null,
): RecordEnvelope | undefined {
  if (fields === null) return undefined;
  let timeMs: number | undefined;
  let requestId = "";
  let line: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1] as string;
    if (name === FIELD_TIME) timeMs = Number(value);
    else if (name === FIELD_REQUEST_ID) requestId = value;
    else if (name === FIELD_LINE) line = value;
  }
  if (timeMs === undefined || !Number.isFinite(timeMs) || line === undefined)
    return undefined;
  return { timeMs, requestId, line };
}

/** XREADGROUP / XRANGE reply → entries (with null fields for entries deleted while pending). */
function parseStreamEntries(raw: unknown): StreamReply {
  if (!Array.isArray(raw)) return [];
  const out: StreamReply = [];
  for (const item of raw) {
    if (!Array.isArray(item) || typeof item[0] !== "string") continue;
    const fields = Array.isArray(item[1]) ? (item[1] as string[]) : null;
    out.push([item[0], fields]);
  }
  return out;
}

/** Milliseconds part of a stream id ("1700000000000-3"). */
function idTimeMs(id: string): number | undefined {
  const ms = Number(id.split("-", 1)[0]);
  return Number.isFinite(ms) ? ms : undefined;
}

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
  const claimIntervalMs = Math.max(
    100,
    Math.min(30_000, Math.floor(options.claimIdleMs / 2)),
  );
  // Consumers with nothing pending that have not been seen for this long are removed from the group.
  const consumerExpiryMs = Math.max(options.claimIdleMs * 10, 600_000);

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
  writer.on("ready", () => {
    if (down) {
      down = false;
      logger.info("redis outbox reachable again; moving buffered records");
    }
    scheduleDrain();
  });
  reader.on("ready", () => {
    groupReady = false;
  });

  const buffer = createFifo<RecordEnvelope>();
  let writing: Promise<void> | undefined;
  let writingCount = 0;
  let drainScheduled = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let interrupted = false;
  const interruptController = new AbortController();

  let groupReady = false;
  let ownPendingCursor: string | undefined = "0";
  let claimCursor = "0-0";
  let nextClaimAt = 0;
  let lastStreamLength = 0;
  let ackBacklog: string[] = [];
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
      if (writer.status !== "ready") return; // the 'ready' handler resumes
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
    const args: Array<string | number> = [options.outboxMax];
    for (const envelope of chunk)
      args.push(String(envelope.timeMs), envelope.requestId, envelope.line);
    const [trimmed, after] = await writer.xaddBatch(key, ...args);
    lastStreamLength = Number(after);
    return Math.max(0, Number(trimmed));
  }

  async function ensureGroup(): Promise<void> {
    try {
      await reader.xgroup("CREATE", key, group, "0", "MKSTREAM");
      logger.info({ stream: key, group }, "created the outbox consumer group");
    } catch (error) {
      if (!errorMessage(error).startsWith("BUSYGROUP")) throw error;
    }
    groupReady = true;
  }

  /** Converts stream entries; entries deleted while pending or unreadable are acknowledged and counted. */
  async function toEntries(reply: StreamReply): Promise<OutboxEntry[]> {
    const entries: OutboxEntry[] = [];
    const unusable: string[] = [];
    for (const [id, fields] of reply) {
      const envelope = parseFields(fields);
      if (envelope === undefined) {
        unusable.push(id);
        // Deleted while pending: MAXLEN trimmed it (already counted as outbox_trimmed when it happened).
        if (fields !== null) countDropped(metrics, "malformed", 1);
      } else entries.push({ id, envelope });
    }
    if (unusable.length > 0) await ackIds(unusable);
    return entries;
  }

  async function readGroup(
    count: number,
    blockMs: number | undefined,
    from: string,
  ): Promise<StreamReply> {
    const args: Array<string | number> = ["GROUP", group, me, "COUNT", count];
    if (blockMs !== undefined) args.push("BLOCK", blockMs);
    args.push("STREAMS", key, from);
    const raw = await reader.call("XREADGROUP", args);
    if (!Array.isArray(raw) || raw.length === 0) return [];
    const first: unknown = raw[0];
    return Array.isArray(first) ? parseStreamEntries(first[1]) : [];
  }

  async function claim(count: number): Promise<OutboxEntry[]> {
    const raw = await reader.call("XAUTOCLAIM", [
      key,
      group,
      me,
      options.claimIdleMs,
      claimCursor,
      "COUNT",
      count,
    ]);
    if (!Array.isArray(raw)) return [];
    const next = typeof raw[0] === "string" ? raw[0] : "0-0";
    claimCursor = next;
    // Keep scanning on the next take while the cursor has not wrapped; otherwise wait for the next interval.
    if (next !== "0-0") nextClaimAt = 0;
    const reply = parseStreamEntries(raw[1]);
    if (reply.length > 0) {
      logger.info(
        { claimed: reply.length, consumer: me },
        "claimed records left pending by another consumer (crashed or gone replica)",
      );
    }
    if (next === "0-0") await expireConsumers();
    return toEntries(reply);
  }

  /** Removes consumers that hold nothing and have not been seen for a long time (each restart adds one). */
  async function expireConsumers(): Promise<void> {
    const raw = await reader.call("XINFO", ["CONSUMERS", key, group]);
    if (!Array.isArray(raw)) return;
    for (const item of raw) {
      if (!Array.isArray(item)) continue;
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < item.length; i += 2)
        info.set(String(item[i]), item[i + 1]);
      const name = String(info.get("name"));
      const pending = Number(info.get("pending"));
      const idle = Number(info.get("inactive") ?? info.get("idle"));
      if (name !== me && pending === 0 && idle > consumerExpiryMs) {
        await reader.call("XGROUP", ["DELCONSUMER", key, group, name]);
        logger.debug(
          { consumer: name },
          "removed an idle consumer from the outbox group",
        );
      }
    }
  }

  async function ackIds(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    if (writer.status !== "ready") {
      backlogAcks(ids);
      return;
    }
    try {
      const results = await writer
        .multi()
        .xack(key, group, ...ids)
        .xdel(key, ...ids)
        .exec();
      if (results === null) throw new Error("MULTI aborted");
    } catch (error) {
      // Only a lost connection is worth retrying; a server error (NOGROUP after a Redis reset) means there is
      // nothing left to acknowledge.
      if (isConnectionError(error)) backlogAcks(ids);
      else logger.debug({ err: errorMessage(error) }, "XACK failed");
    }
  }

  function backlogAcks(ids: readonly string[]): void {
    ackBacklog.push(...ids);
    // Past the bound the oldest acks are forgotten: those entries may be shipped again later (Loki de-duplicates).
    if (ackBacklog.length > ACK_BACKLOG_MAX)
      ackBacklog = ackBacklog.slice(ackBacklog.length - ACK_BACKLOG_MAX);
  }

  async function flushAckBacklog(): Promise<void> {
    if (ackBacklog.length === 0 || writer.status !== "ready") return;
    const ids = ackBacklog;
    ackBacklog = [];
    await ackIds(ids);
  }

  async function takeOnce(
    maxRecords: number,
    waitMs: number,
  ): Promise<OutboxEntry[]> {
    await flushAckBacklog();
    if (!groupReady) await ensureGroup();
    // 1. Our own pending entries from a previous life under the same consumer name (e.g. a container restart).
    if (ownPendingCursor !== undefined) {
      const reply = await readGroup(maxRecords, undefined, ownPendingCursor);
      const last = reply[reply.length - 1];
      if (last === undefined) ownPendingCursor = undefined;
      else {
        ownPendingCursor = last[0];
        const entries = await toEntries(reply);
        if (entries.length > 0) {
          logger.info(
            { records: entries.length },
            "resuming records this consumer had read but not acknowledged",
          );
          return entries;
        }
      }
    }
    // 2. Entries left pending by dead consumers.
    const now = Date.now();
    if (now >= nextClaimAt) {
      nextClaimAt = now + claimIntervalMs;
      const claimed = await claim(maxRecords);
      if (claimed.length > 0) return claimed;
    }
    // 3. New entries.
    const block = Math.min(
      Math.max(0, Math.floor(waitMs)),
      MAX_BLOCK_MS,
      claimIntervalMs,
    );
    const reply = await readGroup(
      maxRecords,
      block > 0 ? block : undefined,
      ">",
    );
    return toEntries(reply);
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
        const entries = await takeOnce(Math.max(1, maxRecords), waitMs);
        lastReadError = undefined;
        return entries;
      } catch (error) {
        const message = errorMessage(error);
        if (message.startsWith("NOGROUP")) {
          // The stream or group vanished (Redis restarted without persistence, or the key was deleted).
          groupReady = false;
          ownPendingCursor = undefined;
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
      return ackIds(entries.map((entry) => entry.id));
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
      if (ackBacklog.length > 0 && writer.status === "ready") {
        await flushAckBacklog();
      }
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

/** redis://user:secret@host → redis://user:***@host for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return "(unparseable url)";
  }
}
