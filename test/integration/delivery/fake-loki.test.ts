// The fake Loki itself: it must judge pushes like Loki, or the pipeline tests prove nothing.
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";

let loki: FakeLoki;
const labels = { service_name: "ollama-proxy", log_type: "request" };
const nowNs = () => `${Date.now()}000000`;

beforeEach(async () => {
  loki = await createFakeLoki();
});
afterEach(async () => {
  await loki.close();
});

function push(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${loki.url}/loki/api/v1/push`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("fake loki", () => {
  it("answers /ready", async () => {
    const res = await fetch(`${loki.url}/ready`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ready");
  });

  it("stores a valid push and answers 204", async () => {
    const res = await push({
      streams: [{ stream: labels, values: [[nowNs(), '{"request_id":"a"}']] }],
    });
    expect(res.status).toBe(204);
    expect(loki.entries()).toEqual([
      expect.objectContaining({ labels, parsed: { request_id: "a" } }),
    ]);
  });

  it("accepts a gzip-encoded JSON body", async () => {
    const body = gzipSync(
      JSON.stringify({
        streams: [{ stream: labels, values: [[nowNs(), "x"]] }],
      }),
    );
    const res = await fetch(`${loki.url}/loki/api/v1/push`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
      },
      body,
    });
    expect(res.status).toBe(204);
    expect(loki.entries()).toHaveLength(1);
  });

  it.each<[string, unknown]>([
    ["not JSON", "{"],
    ["no streams array", { streams: {} }],
    [
      "a numeric timestamp",
      { streams: [{ stream: labels, values: [[1, "x"]] }] },
    ],
    [
      "a non-string line",
      { streams: [{ stream: labels, values: [[nowNs(), 5]] }] },
    ],
  ])("rejects %s as a whole with 400", async (_name, body) => {
    const res = await push(body);
    expect(res.status).toBe(400);
    expect(loki.entries()).toHaveLength(0);
  });

  it("rejects a non-JSON content type", async () => {
    const res = await push("x", { "Content-Type": "application/x-protobuf" });
    expect(res.status).toBe(400);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["empty labels", {}, /at least one label pair/],
    ["an invalid label name", { "bad-name": "x" }, /invalid label name/],
    ["a non-string label value", { a: 1 }, /must be a string/],
    [
      "16 label names",
      Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`l${i}`, "v"])),
      /has 16 label names; limit 15/,
    ],
    [
      "a label value over 2048 chars",
      { a: "v".repeat(2049) },
      /label value too long/,
    ],
  ])(
    "refuses a stream with %s but keeps the valid streams (partial accept)",
    async (_n, bad, reason) => {
      const res = await push({
        streams: [
          { stream: bad, values: [[nowNs(), "refused"]] },
          { stream: labels, values: [[nowNs(), "kept"]] },
        ],
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(reason);
      expect(loki.entries().map((e) => e.line)).toEqual(["kept"]);
    },
  );

  it("refuses lines over max_line_size, and timestamps outside the window, entry by entry", async () => {
    const old = `${Date.now() - 8 * 24 * 3600_000}000000`;
    const future = `${Date.now() + 3600_000}000000`;
    const res = await push({
      streams: [
        {
          stream: labels,
          values: [
            [nowNs(), "ok-1"],
            [nowNs(), "x".repeat(256 * 1024 + 1)],
            [old, "too-old"],
            [future, "too-new"],
            [nowNs(), "ok-2"],
          ],
        },
      ],
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toMatch(/Max entry size '262144' bytes exceeded/);
    expect(text).toMatch(/timestamp too old/);
    expect(text).toMatch(/timestamp too new/);
    expect(text).toMatch(/total ignored: 3 out of 5/);
    expect(loki.entries().map((e) => e.line)).toEqual(["ok-1", "ok-2"]);
  });

  it("answers 413 to a body over the size limit", async () => {
    const small = await createFakeLoki({ maxBodyBytes: 100 });
    try {
      const res = await fetch(`${small.url}/loki/api/v1/push`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          streams: [{ stream: labels, values: [[nowNs(), "y".repeat(200)]] }],
        }),
      });
      expect(res.status).toBe(413);
    } finally {
      await small.close();
    }
  });

  it("fails on command, for a number of pushes, then recovers", async () => {
    await loki.fail(429, { times: 2, retryAfter: "7" });
    const body = { streams: [{ stream: labels, values: [[nowNs(), "x"]] }] };
    const first = await push(body);
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("7");
    expect((await push(body)).status).toBe(429);
    expect((await push(body)).status).toBe(204);
    expect(loki.pushes.map((p) => p.status)).toEqual([429, 429, 204]);
    expect(loki.entries()).toHaveLength(1);
  });

  it("refuses connections while down and comes back on the same port", async () => {
    const port = loki.port;
    await loki.fail("down");
    await expect(fetch(`${loki.url}/ready`)).rejects.toThrow();
    await loki.setMode({ kind: "ok" });
    expect(loki.port).toBe(port);
    expect((await fetch(`${loki.url}/ready`)).status).toBe(200);
  });

  it("can be driven over HTTP (for the container stand-in)", async () => {
    const mode = await fetch(`${loki.url}/__fake/mode`, {
      method: "POST",
      body: JSON.stringify({ kind: "status", status: 503, times: 1 }),
    });
    expect(mode.status).toBe(204);
    const body = { streams: [{ stream: labels, values: [[nowNs(), "x"]] }] };
    expect((await push(body)).status).toBe(503);
    expect((await push(body)).status).toBe(204);
    const dump = (await (await fetch(`${loki.url}/__fake/entries`)).json()) as {
      entries: unknown[];
    };
    expect(dump.entries).toHaveLength(1);
  });

  it("collapses exact duplicates the way a Loki query does", async () => {
    const ts = nowNs();
    const body = { streams: [{ stream: labels, values: [[ts, "same"]] }] };
    await push(body);
    await push(body);
    expect(loki.entries()).toHaveLength(2);
    expect(loki.uniqueEntries()).toHaveLength(1);
  });
});
