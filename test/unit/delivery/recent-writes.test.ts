// Which writes the outbox sends again when Redis comes back as a new process: those of the window before the
// connection was lost, as the bytes that were written.
import { describe, expect, it } from "vitest";
import type { RecordEnvelope } from "@proxy/delivery/envelope.ts";
import type { Redis } from "ioredis";
import {
  createRecentWrites,
  lostOnReconnect,
  missingRecords,
} from "@proxy/delivery/recent-writes.ts";
import {
  recordsOfBatchArgs,
  runIdOf,
  xaddBatchArgs,
} from "@proxy/delivery/redis-stream.ts";

const envelope = (requestId: string, timeMs = 1): RecordEnvelope => ({
  timeMs,
  requestId,
  line: JSON.stringify({ request_id: requestId, prompt: "¿qué? 日本 🦙" }),
});
const chunk = (...ids: string[]) =>
  xaddBatchArgs(
    1000,
    ids.map((id) => envelope(id)),
  );
const idsOf = (
  writes: ReturnType<
    ReturnType<typeof createRecentWrites>["takeSinceDisconnect"]
  >,
) =>
  writes
    .flatMap((write) => recordsOfBatchArgs(write.args))
    .map((r) => r.requestId);

describe("the XADD_BATCH arguments", () => {
  it("give back the records they were made from, byte for byte", () => {
    const records = [envelope("a", 1_700_000_000_123), envelope("b", 7)];
    const args = xaddBatchArgs(500, records);
    expect(args[0]).toBe(500);
    expect(Buffer.isBuffer(args[3])).toBe(true);
    expect(recordsOfBatchArgs(args)).toEqual(records);
  });
});

describe("runIdOf", () => {
  it("reads the run_id of an INFO server reply", () => {
    const info =
      "# Server\r\nredis_version:7.0.15\r\nrun_id:4f1c2d9e0a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d\r\ntcp_port:6379\r\n";
    expect(runIdOf(info)).toBe("4f1c2d9e0a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d");
    expect(runIdOf("# Server\r\nredis_version:7.0.15\r\n")).toBeUndefined();
  });
});

describe("recent writes", () => {
  it("gives back the writes of the window before the disconnect, oldest first", () => {
    const recent = createRecentWrites(1000, 5000);
    recent.written(chunk("old"), "1-0", 10_000);
    recent.written(chunk("a", "b"), "2-0", 16_000);
    recent.written(chunk("c"), "3-0", 20_000);
    recent.disconnected(20_500);
    // Failed reconnects close again later; the window still ends where the writes stopped.
    recent.disconnected(29_000);
    expect(recent.sameServer("new-process")).toBe(false);
    const taken = recent.takeSinceDisconnect();
    expect(taken.map((write) => write.lastId)).toEqual(["2-0", "3-0"]);
    expect(idsOf(taken)).toEqual(["a", "b", "c"]);
    expect(recent.takeSinceDisconnect()).toEqual([]);
  });

  it("forgets writes older than the window while connected", () => {
    const recent = createRecentWrites(1000, 5000);
    recent.written(chunk("a", "b"), "1-0", 0);
    recent.written(chunk("c"), "2-0", 4000);
    expect(recent.count).toBe(3);
    recent.written(chunk("d"), "3-0", 9500);
    expect(recent.count).toBe(1);
  });

  it("holds at most maxRecords, dropping the oldest chunks", () => {
    const recent = createRecentWrites(3, 60_000);
    recent.written(chunk("a", "b"), "1-0", 0);
    recent.written(chunk("c", "d"), "2-0", 1);
    expect(recent.count).toBe(2);
    recent.disconnected(2);
    expect(idsOf(recent.takeSinceDisconnect())).toEqual(["c", "d"]);
  });

  it("knows a reconnect to the same process, which lost nothing", () => {
    const recent = createRecentWrites(1000, 5000);
    // The first connection: nothing to compare with.
    expect(recent.sameServer("first")).toBe(false);
    recent.written(chunk("a"), "1-0", 1000);
    recent.disconnected(1500);
    expect(recent.sameServer("first")).toBe(true);
    // INFO refused: unknown, so treated as a new process (a copy too many rather than a record lost).
    expect(recent.sameServer(undefined)).toBe(false);
    expect(recent.sameServer("second")).toBe(false);
  });

  it("measures a later window from the later disconnect, not an earlier one that resumed", () => {
    const recent = createRecentWrites(1000, 5000);
    recent.sameServer("first");
    recent.written(chunk("a"), "1-0", 1000);
    recent.disconnected(1500);
    expect(recent.sameServer("first")).toBe(true);
    recent.written(chunk("b"), "2-0", 30_000);
    recent.disconnected(31_000);
    expect(recent.sameServer("second")).toBe(false);
    expect(idsOf(recent.takeSinceDisconnect())).toEqual(["b"]);
  });
});

/** Just what the reconnect check calls on the writer: INFO server and a pipeline of XRANGEs. */
function fakeWriter(options: {
  runId?: string;
  present?: readonly string[];
  execFails?: boolean;
}): Redis {
  const asked: string[] = [];
  const fake = {
    info: () =>
      options.runId === undefined
        ? Promise.reject(new Error("NOPERM this user has no permissions"))
        : Promise.resolve(`# Server\r\nrun_id:${options.runId}\r\n`),
    pipeline: () => {
      const pipeline = {
        xrange: (_key: string, id: string) => {
          asked.push(id);
          return pipeline;
        },
        exec: () =>
          options.execFails
            ? Promise.reject(new Error("Connection is closed."))
            : Promise.resolve(
                asked.map((id) => [
                  null,
                  options.present?.includes(id) ? [[id, []]] : [],
                ]),
              ),
      };
      return pipeline;
    },
  };
  return fake as unknown as Redis;
}

describe("after a reconnect", () => {
  const written = () => {
    const recent = createRecentWrites(1000, 5000);
    recent.sameServer("0dd0");
    recent.written(chunk("a"), "1-0", 1000);
    recent.written(chunk("b"), "2-0", 2000);
    recent.disconnected(2500);
    return recent;
  };

  it("writes nothing again to the same process", async () => {
    expect(
      await lostOnReconnect(written(), fakeWriter({ runId: "0dd0" }), "s"),
    ).toEqual([]);
  });

  it("writes again, to a new process, the chunks its stream lacks", async () => {
    const lost = await lostOnReconnect(
      written(),
      fakeWriter({ runId: "9e40", present: ["1-0"] }),
      "s",
    );
    expect(lost.map((r) => r.requestId)).toEqual(["b"]);
  });

  it("treats a Redis that refuses INFO as a new process", async () => {
    const lost = await lostOnReconnect(
      written(),
      fakeWriter({ present: ["2-0"] }),
      "s",
    );
    expect(lost.map((r) => r.requestId)).toEqual(["a"]);
  });

  it("counts every chunk as missing when the check itself fails", async () => {
    const recent = written();
    recent.sameServer("9e40");
    const lost = await missingRecords(
      fakeWriter({ execFails: true, present: ["1-0", "2-0"] }),
      "s",
      recent.takeSinceDisconnect(),
    );
    expect(lost.map((r) => r.requestId)).toEqual(["a", "b"]);
  });
});
