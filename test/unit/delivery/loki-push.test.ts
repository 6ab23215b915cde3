import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  createServer as createNetServer,
  type AddressInfo,
  type Socket,
} from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  buildPushBody,
  classifyPushResponse,
  compareNs,
  entryPayloadBytes,
  lokiPushUrl,
  parseIgnoredCount,
  parseRetryAfter,
  pushToLoki,
  timeMsToNs,
} from "@proxy/delivery/loki-push.ts";
import { freePort } from "../../helpers/free-port.ts";

const labels = {
  service_name: "ollama-proxy",
  log_type: "request",
  env: "dev",
};

describe("timestamps", () => {
  it("turns epoch milliseconds into a nanosecond string", () => {
    expect(timeMsToNs(1_700_000_000_123)).toBe("1700000000123000000");
  });

  it("keeps sub-millisecond precision to the microsecond", () => {
    expect(timeMsToNs(1_700_000_000_123.456)).toBe("1700000000123456000");
  });

  it("is deterministic, so a re-pushed record carries the same timestamp", () => {
    const t = 1_700_000_000_000 + Math.PI;
    expect(timeMsToNs(t)).toBe(timeMsToNs(t));
  });

  it("orders nanosecond strings numerically, not lexically", () => {
    expect(compareNs("999", "1000")).toBeLessThan(0);
    expect(
      compareNs("1700000000123000000", "1700000000122000000"),
    ).toBeGreaterThan(0);
    expect(compareNs("42", "42")).toBe(0);
  });
});

describe("buildPushBody", () => {
  const push = (lines: Array<{ tsNs: string; line: string }>) =>
    buildPushBody(
      labels,
      lines.map(({ tsNs, line }) => ({ tsNs, json: JSON.stringify(line) })),
    );
  const parse = (body: Buffer) =>
    JSON.parse(body.toString("utf8")) as {
      streams: Array<{
        stream: Record<string, string>;
        values: Array<[string, string]>;
      }>;
    };

  it("produces the JSON shape of Loki's push API: one stream for the label set", () => {
    expect(parse(push([{ tsNs: "1", line: '{"a":1}' }]))).toEqual({
      streams: [{ stream: labels, values: [["1", '{"a":1}']] }],
    });
  });

  it("sorts entries by time, numerically, and keeps arrival order for equal timestamps", () => {
    const body = push([
      { tsNs: "1000", line: "late" },
      { tsNs: "999", line: "early" },
      { tsNs: "1000", line: "late-2" },
    ]);
    expect(parse(body).streams[0]?.values).toEqual([
      ["999", "early"],
      ["1000", "late"],
      ["1000", "late-2"],
    ]);
  });

  it("carries every line back exactly, whatever it contains", () => {
    const line =
      '{"prompt":"say \\"hi\\"\\n","x":"é 😀 \u2028 \u0001","t":"</script>"}\nsecond\tline';
    expect(parse(push([{ tsNs: "5", line }])).streams[0]?.values).toEqual([
      ["5", line],
    ]);
  });

  it("writes lines given as bytes exactly as lines given as text, and as JSON.stringify would", () => {
    const lines = [
      { tsNs: "7", line: '{"prompt":"é 😀 \\"q\\""}' },
      { tsNs: "8", line: "plain" },
      { tsNs: "10", line: "" },
    ];
    const asText = push(lines);
    const mixed = buildPushBody(
      labels,
      lines.map(({ tsNs, line }, i) => {
        const json = JSON.stringify(line);
        return { tsNs, json: i % 2 === 0 ? Buffer.from(json) : json };
      }),
    );
    expect(mixed.equals(asText)).toBe(true);
    expect(asText.toString("utf8")).toBe(
      JSON.stringify({
        streams: [
          {
            stream: labels,
            values: lines.map(({ tsNs, line }) => [tsNs, line]),
          },
        ],
      }),
    );
  });

  it("is valid JSON for an empty batch and for labels outside ASCII", () => {
    const named = { service: "ollama-proxy", env: "prod-café" };
    expect(JSON.parse(buildPushBody(named, []).toString())).toEqual({
      streams: [{ stream: named, values: [] }],
    });
    const body = buildPushBody(named, [
      { tsNs: "1", json: Buffer.from('"x"') },
    ]);
    expect(JSON.parse(body.toString())).toEqual({
      streams: [{ stream: named, values: [["1", "x"]] }],
    });
  });

  it("counts each entry's bytes as it appears in the body (escaping included)", () => {
    const first = { tsNs: "123", line: '{"prompt":"é"}' };
    const second = { tsNs: "1234", line: 'quote " and \\ backslash' };
    const added =
      Buffer.byteLength(push([first, second])) -
      Buffer.byteLength(push([first]));
    const json = JSON.stringify(second.line);
    expect(entryPayloadBytes({ tsNs: second.tsNs, json })).toBe(added);
    expect(
      entryPayloadBytes({ tsNs: second.tsNs, json: Buffer.from(json) }),
    ).toBe(added);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it.each([
    ["2", 2000],
    ["0", 0],
    [" 120 ", 120_000],
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000],
    ["Wed, 31 Dec 2025 23:59:00 GMT", 0],
  ])("reads %j as %d ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([[null], [undefined], [""], ["soon"], ["1.5"], ["-3"]])(
    "ignores %j",
    (value) => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    },
  );
});

describe("classifyPushResponse", () => {
  it.each([200, 204])("treats %d as shipped", (status) => {
    expect(classifyPushResponse(status, "", null, 0)).toEqual({
      kind: "ok",
      status,
    });
  });

  it("never retries a 400: Loki stored the valid part", () => {
    expect(classifyPushResponse(400, "line too long\n", null, 0)).toEqual({
      kind: "rejected",
      status: 400,
      reason: "line too long",
    });
  });

  it("splits on 413", () => {
    expect(classifyPushResponse(413, "", null, 0).kind).toBe("too_large");
  });

  it("retries 429 with its Retry-After", () => {
    expect(classifyPushResponse(429, "rate limited", "3", 0)).toEqual({
      kind: "retry",
      status: 429,
      reason: "rate limited",
      retryAfterMs: 3000,
    });
  });

  it.each([500, 502, 503, 504, 401, 403, 404])(
    "retries %d (server trouble, or a configuration that can be fixed without losing records)",
    (status) => {
      expect(classifyPushResponse(status, "", null, 0).kind).toBe("retry");
    },
  );
});

describe("parseIgnoredCount", () => {
  it("sums Loki's per-stream 'total ignored' summaries", () => {
    const body =
      "entry with timestamp … ignored, reason: 'entry too far behind',\n" +
      "user 'fake', total ignored: 1 out of 2 for stream: {app=\"a\"}\n" +
      "user 'fake', total ignored: 3 out of 5 for stream: {app=\"b\"}";
    expect(parseIgnoredCount(body)).toBe(4);
  });

  it("is undefined when the body does not say", () => {
    expect(parseIgnoredCount("Max entry size exceeded")).toBeUndefined();
  });
});

describe("lokiPushUrl", () => {
  it.each([
    ["http://loki:3100", "http://loki:3100/loki/api/v1/push"],
    ["http://loki:3100/", "http://loki:3100/loki/api/v1/push"],
    [
      "https://gw.example/tenant-a",
      "https://gw.example/tenant-a/loki/api/v1/push",
    ],
  ])("%s → %s", (base, expected) => {
    expect(lokiPushUrl(base)).toBe(expected);
  });
});

describe("pushToLoki", () => {
  interface Received {
    method: string | undefined;
    url: string | undefined;
    headers: IncomingMessage["headers"];
    body: Buffer;
  }
  const servers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((close) => close()));
  });

  /** A Loki stand-in on a free port: `answer` replies to each push once its body has arrived. */
  async function loki(
    answer: (response: ServerResponse, received: Received) => void,
  ) {
    const received: Received[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const push = {
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks),
        };
        received.push(push);
        answer(response, push);
      });
    });
    let connections = 0;
    server.on("connection", (socket) => {
      connections++;
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    servers.push(
      () =>
        new Promise((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/loki/api/v1/push`,
      received,
      connections: () => connections,
    };
  }

  it("POSTs the body's bytes as they are, with the configured headers", async () => {
    const server = await loki((response) => response.writeHead(204).end());
    const body = Buffer.from('{"streams":[{"values":[["1","caf\u00e9 ☕"]]}]}');
    const outcome = await pushToLoki({
      url: server.url,
      headers: { "X-Scope-OrgID": "t1", Authorization: "Basic dTpw" },
      body,
      timeoutMs: 5000,
    });
    expect(outcome).toEqual({ kind: "ok", status: 204 });
    const [push] = server.received;
    expect(push?.method).toBe("POST");
    expect(push?.url).toBe("/loki/api/v1/push");
    expect(push?.body.equals(body)).toBe(true);
    expect(push?.headers).toMatchObject({
      "content-type": "application/json",
      "content-length": String(body.length),
      "x-scope-orgid": "t1",
      authorization: "Basic dTpw",
    });
  });

  it("reuses one connection for consecutive pushes", async () => {
    const server = await loki((response) => response.writeHead(204).end());
    for (let i = 0; i < 3; i++)
      expect(
        await pushToLoki({
          url: server.url,
          headers: {},
          body: Buffer.from("{}"),
          timeoutMs: 5000,
        }),
      ).toMatchObject({ kind: "ok" });
    expect(server.received).toHaveLength(3);
    expect(server.connections()).toBe(1);
  });

  it("reads Loki's answer: a 429's Retry-After, a 400's reason", async () => {
    const server = await loki((response, push) => {
      if (push.body.toString() === "slow down")
        response
          .writeHead(429, { "Retry-After": "7" })
          .end("Ingestion rate limit exceeded");
      else
        response
          .writeHead(400)
          .end(
            "entry too far behind, total ignored: 2 out of 5 for stream {x}",
          );
    });
    const push = (text: string) =>
      pushToLoki({
        url: server.url,
        headers: {},
        body: Buffer.from(text),
        timeoutMs: 5000,
      });
    expect(await push("slow down")).toEqual({
      kind: "retry",
      status: 429,
      reason: "Ingestion rate limit exceeded",
      retryAfterMs: 7000,
    });
    expect(await push("old")).toEqual({
      kind: "rejected",
      status: 400,
      reason: "entry too far behind, total ignored: 2 out of 5 for stream {x}",
    });
  });

  it("turns a refused connection into a retry that names it", async () => {
    const outcome = await pushToLoki({
      url: `http://127.0.0.1:${await freePort()}/loki/api/v1/push`,
      headers: {},
      body: Buffer.from("{}"),
      timeoutMs: 5000,
    });
    expect(outcome).toMatchObject({ kind: "retry", status: undefined });
    expect(outcome.kind === "retry" && outcome.reason).toMatch(/ECONNREFUSED/);
  });

  it("speaks TLS to an https:// Loki", async () => {
    const firstBytes: Buffer[] = [];
    const tcp = createNetServer((socket) => {
      socket.once("data", (data: Buffer) => {
        firstBytes.push(data);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    servers.push(() => new Promise((resolve) => tcp.close(() => resolve())));
    const { port } = tcp.address() as AddressInfo;
    const outcome = await pushToLoki({
      url: `https://127.0.0.1:${port}/loki/api/v1/push`,
      headers: {},
      body: Buffer.from("{}"),
      timeoutMs: 5000,
    });
    expect(outcome).toMatchObject({ kind: "retry", status: undefined });
    // 0x16: a TLS handshake record (the ClientHello), not "POST".
    expect(firstBytes[0]?.[0]).toBe(0x16);
  });

  it.each<[string, (response: ServerResponse) => void]>([
    ["never answers", () => {}],
    [
      "stops half-way through its answer's body",
      (response) => {
        response.writeHead(200, { "Content-Length": "100" });
        response.write("partial");
      },
    ],
  ])("turns a Loki that %s into a timeout retry", async (_, answer) => {
    const server = await loki(answer);
    const outcome = await pushToLoki({
      url: server.url,
      headers: {},
      body: Buffer.from("{}"),
      timeoutMs: 50,
    });
    expect(outcome).toMatchObject({
      kind: "retry",
      reason: "timeout after 50 ms",
    });
  });

  it("gives up when its signal aborts (shutdown)", async () => {
    const server = await loki(() => {});
    const shutdown = new AbortController();
    const pending = pushToLoki({
      url: server.url,
      headers: {},
      body: Buffer.from("{}"),
      timeoutMs: 60_000,
      signal: shutdown.signal,
    });
    setTimeout(() => shutdown.abort(), 20);
    expect(await pending).toMatchObject({ kind: "retry", reason: "aborted" });
  });
});
