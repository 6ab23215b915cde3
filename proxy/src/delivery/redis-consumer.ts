// The reading side of the outbox stream: a consumer in a consumer group that first resumes its own unacknowledged
// entries (a restart under the same name), then claims what dead consumers left pending, then reads new entries;
// acknowledged entries are deleted. Acks that meet a lost connection wait in a bounded backlog.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics/definitions.ts";
import { countDropped, type OutboxEntry } from "./outbox.ts";
import {
  errorMessage,
  isConnectionError,
  parseFields,
  parseStreamEntries,
  type StreamReply,
} from "./redis-stream.ts";

export interface StreamConsumerOptions {
  readonly streamKey: string;
  readonly consumerGroup: string;
  readonly consumerName: string;
  /** Pending entries idle longer than this are claimed from other consumers (XAUTOCLAIM). */
  readonly claimIdleMs: number;
}

export interface StreamConsumer {
  /** Entries to ship, waiting up to `waitMs` (capped) for new ones. */
  take(maxRecords: number, waitMs: number): Promise<OutboxEntry[]>;
  /** Acknowledges and deletes; kept for later when the connection is down. */
  ack(ids: readonly string[]): Promise<void>;
  flushAcks(): Promise<void>;
  /** The reader reconnected: make sure the group exists before the next read. */
  reconnected(): void;
  /** NOGROUP: the stream or group vanished; recreate it and forget the resume cursor. */
  groupLost(): void;
}

const MAX_BLOCK_MS = 1000;
const ACK_BACKLOG_MAX = 100_000;

export function createStreamConsumer(
  reader: Redis,
  writer: Redis,
  options: StreamConsumerOptions,
  deps: { metrics: Metrics; logger: Logger },
): StreamConsumer {
  const { metrics, logger } = deps;
  const key = options.streamKey;
  const group = options.consumerGroup;
  const me = options.consumerName;
  const claimIntervalMs = Math.max(
    100,
    Math.min(30_000, Math.floor(options.claimIdleMs / 2)),
  );
  // Consumers with nothing pending that have not been seen for this long are removed from the group.
  const consumerExpiryMs = Math.max(options.claimIdleMs * 10, 600_000);

  let groupReady = false;
  let ownPendingCursor: string | undefined = "0";
  let claimCursor = "0-0";
  let nextClaimAt = 0;
  let ackBacklog: string[] = [];

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
      const record = parseFields(fields);
      if (record === undefined) {
        unusable.push(id);
        // Deleted while pending: MAXLEN trimmed it (already counted as outbox_trimmed when it happened).
        if (fields !== null) countDropped(metrics, "malformed", 1);
      } else entries.push({ id, ...record });
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
    // As Buffers: the lines stay bytes until they are copied into a push body (see StoredRecord.json).
    const raw = await reader.callBuffer("XREADGROUP", args);
    if (!Array.isArray(raw) || raw.length === 0) return [];
    const first: unknown = raw[0];
    return Array.isArray(first) ? parseStreamEntries(first[1]) : [];
  }

  async function claim(count: number): Promise<OutboxEntry[]> {
    const raw = await reader.callBuffer("XAUTOCLAIM", [
      key,
      group,
      me,
      options.claimIdleMs,
      claimCursor,
      "COUNT",
      count,
    ]);
    if (!Array.isArray(raw)) return [];
    const next = Buffer.isBuffer(raw[0]) ? raw[0].toString() : "0-0";
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
    take: takeOnce,
    ack: ackIds,
    async flushAcks() {
      if (ackBacklog.length > 0 && writer.status === "ready")
        await flushAckBacklog();
    },
    reconnected() {
      groupReady = false;
    },
    groupLost() {
      groupReady = false;
      ownPendingCursor = undefined;
    },
  };
}
