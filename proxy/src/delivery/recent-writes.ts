// The outbox's writes of the last few seconds, kept so that they can be written again when Redis comes back as a
// new process without them. Redis acknowledges an XADD before its append-only file has it: with `appendfsync
// everysec` it postpones the write(2) itself for up to two seconds while a previous fsync is still running, so a
// Redis killed on a busy disk (OOM killer, `docker kill`, a crash) comes back without records it acknowledged
// (measured: 755 of 6,713 in one kill). WAITAOF (Redis 7.2+; Debian's 7.0 lacks it) would hold the writer's
// connection until the next fsync, up to a second per write; keeping the writes allocates nothing per record, and
// holds 5 s of them.
import type { Redis } from "ioredis";
import type { RecordEnvelope } from "./envelope.ts";
import { recordsOfBatchArgs, runIdOf, type BatchArgs } from "./redis-stream.ts";

/** How long an acknowledged write may still be missing from a Redis that dies: its two-second postponement,
 * counted in whole seconds, plus the fsync that follows, with a margin. */
export const REWRITE_WINDOW_MS = 5000;

export interface RecentWrite {
  readonly atMs: number;
  /** The stream id of the chunk's last entry: present after a restart means the chunk survived whole (one
   * script call is one transaction in the append-only file). */
  readonly lastId: string;
  /** The chunk as written: the lines stay the bytes already made for the write, not strings the heap would
   * carry into its old generation. */
  readonly args: BatchArgs;
}

export interface RecentWrites {
  written(args: BatchArgs, lastId: string, atMs: number): void;
  /** The connection to Redis was lost at `atMs`: writes before it are the ones a restarted Redis may lack. */
  disconnected(atMs: number): void;
  /**
   * Connected again to a Redis whose `INFO server` run_id is `runId` (undefined when INFO is refused): true when
   * it is the process the writes went to, which lost nothing.
   */
  sameServer(runId: string | undefined): boolean;
  /** The writes of the window before the last disconnect, oldest first, and forgets them. */
  takeSinceDisconnect(): RecentWrite[];
  /** Records held (bounded by `maxRecords`). */
  readonly count: number;
}

const recordsIn = (write: RecentWrite) => (write.args.length - 1) / 3;

/** Keeps at most `maxRecords` records written in the last `windowMs`, in chunks as they were written. */
export function createRecentWrites(
  maxRecords: number,
  windowMs = REWRITE_WINDOW_MS,
): RecentWrites {
  let writes: RecentWrite[] = [];
  let count = 0;
  let disconnectedAtMs: number | undefined;
  let serverRunId: string | undefined;

  const forgetBefore = (cutoffMs: number) => {
    let drop = 0;
    while (
      drop < writes.length &&
      (writes[drop]!.atMs < cutoffMs || count > maxRecords)
    ) {
      count -= recordsIn(writes[drop]!);
      drop++;
    }
    if (drop > 0) writes = writes.slice(drop);
  };

  return {
    written(args, lastId, atMs) {
      const write = { atMs, lastId, args };
      writes.push(write);
      count += recordsIn(write);
      forgetBefore(atMs - windowMs);
    },
    disconnected(atMs) {
      // ioredis reports each failed reconnect as another close; the first is when the writes stopped.
      disconnectedAtMs ??= atMs;
    },
    sameServer(runId) {
      const same = runId !== undefined && runId === serverRunId;
      serverRunId = runId ?? serverRunId;
      if (same) disconnectedAtMs = undefined;
      return same;
    },
    takeSinceDisconnect() {
      const cutoffMs = (disconnectedAtMs ?? Date.now()) - windowMs;
      const taken = writes.filter((write) => write.atMs >= cutoffMs);
      writes = [];
      count = 0;
      disconnectedAtMs = undefined;
      return taken;
    },
    get count() {
      return count;
    },
  };
}

/** The records to write again after the writer reconnected to `writer`: none when it is the same Redis process. */
export async function lostOnReconnect(
  recent: RecentWrites,
  writer: Redis,
  key: string,
): Promise<RecordEnvelope[]> {
  const runId = await writer.info("server").then(runIdOf, () => undefined);
  if (recent.sameServer(runId)) return [];
  return missingRecords(writer, key, recent.takeSinceDisconnect());
}

/**
 * The records of `writes` that the stream lacks: a chunk whose last entry is gone was lost with the old process —
 * or shipped and deleted already, which cannot be told apart here; Loki keeps one copy of a record sent twice
 * (same timestamp and line). When the check itself fails, every chunk counts as missing.
 */
export async function missingRecords(
  writer: Redis,
  key: string,
  writes: readonly RecentWrite[],
): Promise<RecordEnvelope[]> {
  if (writes.length === 0) return [];
  let found: Array<[Error | null, unknown]> | null = null;
  try {
    const pipeline = writer.pipeline();
    for (const write of writes)
      pipeline.xrange(key, write.lastId, write.lastId, "COUNT", 1);
    found = await pipeline.exec();
  } catch {
    found = null;
  }
  return writes
    .filter((_, i) => {
      const [error, entries] = found?.[i] ?? [null, []];
      return error !== null || !Array.isArray(entries) || entries.length === 0;
    })
    .flatMap((write) => recordsOfBatchArgs(write.args));
}
