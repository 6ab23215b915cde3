// The transport's HTTP contract, against a plain upstream that records what it receives: end-to-end headers and
// bytes pass unchanged, hop-by-hop headers stay on their hop (RFC 9110 §7.6.1), the upstream's header names keep
// their case, a path prefix in OLLAMA_URL is kept, and a client that leaves ends the upstream request. The requests
// the proxy sends every backend itself (model management) carry the same end-to-end headers.
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { sendRaw } from "../../helpers/raw-request.ts";
import { waitFor } from "../../helpers/wait-for.ts";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe("transport", () => {
  const seen: Seen[] = [];
  const aborted: string[] = [];
  let upstream: http.Server;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        seen.push({
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        if (req.url?.endsWith("/api/hang")) {
          res.writeHead(200, { "Content-Type": "application/x-ndjson" });
          res.write('{"response":"a","done":false}\n');
          res.on("close", () => aborted.push(req.url ?? ""));
          return;
        }
        // Names as Ollama's Go server writes them (canonical case), a repeated header, and hop-by-hop ones that
        // describe this upstream connection only.
        res.writeHead(200, [
          "Content-Type",
          "application/json; charset=utf-8",
          "X-Upstream-Case",
          "Kept",
          "Set-Cookie",
          "a=1",
          "Set-Cookie",
          "b=2",
          "Connection",
          "close, X-Upstream-Hop",
          "Keep-Alive",
          "timeout=1",
          "X-Upstream-Hop",
          "1",
        ]);
        res.end('{"models":[]}');
      });
    });
    await new Promise<void>((resolve) =>
      upstream.listen(0, "127.0.0.1", resolve),
    );
    const { port } = upstream.address() as { port: number };
    proxy = await startProxy({
      OLLAMA_URL: `http://127.0.0.1:${port}/ollama`,
      UPSTREAM_TIMEOUT_MS: "0",
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  const last = () => seen[seen.length - 1] as Seen;

  it("keeps the OLLAMA_URL path in front of the path and query", async () => {
    const response = await fetch(`${proxy.url}/api/tags?verbose=1&x=%2F`);
    expect(response.status).toBe(200);
    await response.text();
    expect(last().url).toBe("/ollama/api/tags?verbose=1&x=%2F");
  });

  it("sends end-to-end headers on and keeps hop-by-hop ones, and those Connection names, on the client's hop", async () => {
    // sendRaw adds "Connection: close": the two Connection lines make one list, "X-Hop, close".
    const answer = await sendRaw(proxy.port, [
      "GET /api/tags HTTP/1.1",
      "Host: localhost:11434",
      "X-Custom: passes",
      "X-Hop: stays",
      "Keep-Alive: timeout=30",
      "TE: trailers",
      "Connection: X-Hop",
    ]);
    expect(answer.status).toBe(200);
    const { headers } = last();
    expect(headers["x-custom"]).toBe("passes");
    expect(headers["x-hop"]).toBeUndefined();
    expect(headers["keep-alive"]).toBeUndefined();
    expect(headers.te).toBeUndefined();
    // Host is the upstream's (Ollama refuses foreign hosts); the upstream connection is the pool's, kept alive.
    expect(headers.host).toBe(
      `127.0.0.1:${(upstream.address() as net.AddressInfo).port}`,
    );
    expect(headers.connection).not.toBe("close");
  });

  it("answers the upstream's header names in its case, repeats kept, with the client's own connection headers", async () => {
    const answer = await sendRaw(proxy.port, [
      "GET /api/tags HTTP/1.1",
      "Host: localhost:11434",
    ]);
    const head = answer.headerLines;
    expect(head).toContain("X-Upstream-Case: Kept");
    expect(head).toContain("Content-Type: application/json; charset=utf-8");
    expect(head.filter((line) => line.startsWith("Set-Cookie: "))).toEqual([
      "Set-Cookie: a=1",
      "Set-Cookie: b=2",
    ]);
    // The upstream's "Keep-Alive: timeout=1" described its own connection, not the client's; so did the header
    // its Connection named.
    expect(head).not.toContain("Keep-Alive: timeout=1");
    expect(head).not.toContain("X-Upstream-Hop: 1");
    expect(answer.body).toContain('{"models":[]}');

    // A keep-alive client keeps its connection although the upstream closed its own.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<net.Socket>();
    for (let i = 0; i < 2; i++)
      await new Promise<void>((resolve, reject) => {
        http
          .get(`${proxy.url}/api/tags`, { agent }, (res) => {
            sockets.add(res.socket);
            expect(res.headers.connection).toBe("keep-alive");
            res.resume();
            res.on("end", resolve);
          })
          .on("error", reject);
      });
    expect(sockets.size).toBe(1);
    agent.destroy();
  });

  it("forwards a body sent after Expect: 100-continue whole, once the proxy said continue", async () => {
    const body = "x".repeat(200_000);
    const digest = `sha256:${"ab".repeat(32)}`;
    const answer = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${proxy.url}/api/blobs/${digest}`,
        {
          method: "POST",
          headers: {
            Expect: "100-continue",
            "Content-Length": String(body.length),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("continue", () => req.end(body));
      req.on("error", reject);
    });
    expect(answer).toBe(200);
    const request = last();
    expect(request.url).toBe(`/ollama/api/blobs/${digest}`);
    expect(request.headers.expect).toBeUndefined();
    expect(request.body.length).toBe(body.length);
    expect(request.body.toString()).toBe(body);
  });

  it("ends the upstream request when the client leaves mid-stream", async () => {
    const controller = new AbortController();
    const response = await fetch(`${proxy.url}/api/hang`, {
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await waitFor(() => aborted.includes("/ollama/api/hang"), {
      timeoutMs: 5000,
      message: "the upstream request was not ended",
    });
  });
});

describe("model management sent to every backend", () => {
  it("carries the same end-to-end headers as the transport, hop-by-hop ones left on the client's hop", async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const upstreams = [0, 1].map(() =>
      http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          if (req.url === "/api/delete") seen.push(req.headers);
          res.writeHead(200, { "Content-Type": "application/json" });
          res.end(req.url === "/api/tags" ? '{"models":[]}' : "{}");
        });
      }),
    );
    for (const upstream of upstreams)
      await new Promise<void>((resolve) =>
        upstream.listen(0, "127.0.0.1", resolve),
      );
    const [a, b] = upstreams.map(
      (u) => `http://127.0.0.1:${(u.address() as net.AddressInfo).port}`,
    );
    const proxy = await startProxy({ OLLAMA_BACKENDS: `a=${a},b=${b}` });
    try {
      const body = JSON.stringify({ model: "llama3.2" });
      const answer = await sendRaw(
        proxy.port,
        [
          "DELETE /api/delete HTTP/1.1",
          "Host: localhost:11434",
          "Content-Type: application/json",
          `Content-Length: ${body.length}`,
          "X-Custom: passes",
          "X-Hop: stays",
          "TE: trailers",
          "Connection: X-Hop",
        ],
        body,
      );
      expect(answer.status).toBe(200);
      expect(seen).toHaveLength(2);
      for (const headers of seen) {
        expect(headers["x-custom"]).toBe("passes");
        expect(headers["x-hop"]).toBeUndefined();
        expect(headers.te).toBeUndefined();
      }
    } finally {
      await proxy.stop();
      for (const upstream of upstreams) {
        upstream.closeAllConnections();
        await new Promise((resolve) => upstream.close(resolve));
      }
    }
  });
});
