// Bad input and abuse through the real proxy: oversized bodies, slow clients, malformed JSON. Each gets a clear
// answer (or a cut connection) and never disturbs the response streams of well-behaved clients.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { startHarness, type Harness } from "./harness.ts";

/** Writes raw bytes, optionally in timed pieces, and resolves with everything the proxy answered. */
function rawExchange(
  port: number,
  pieces: Array<string | number>,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let answer = "";
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      answer += text;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    void (async () => {
      for (const piece of pieces) {
        if (typeof piece === "number")
          await new Promise((r) => setTimeout(r, piece));
        else if (!socket.destroyed) socket.write(piece);
      }
    })();
  });
}

describe("bad input and abuse", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      env: {
        MAX_BODY_BYTES: "1000",
        CLIENT_HEADERS_TIMEOUT_MS: "600",
        CLIENT_REQUEST_TIMEOUT_MS: "1200",
      },
      emulator: {
        models: [
          { name: "llama3.2:latest" },
          { name: "slow:latest", tokensPerSecond: 5, replyTokens: 15 },
        ],
      },
    });
  });
  afterAll(() => harness.close());

  it("answers 413 in each route's error shape when the declared body is too large", async () => {
    const big = JSON.stringify({ model: "llama3.2", prompt: "x".repeat(2000) });
    const native = await fetch(`${harness.proxy.url}/api/generate`, {
      method: "POST",
      body: big,
    });
    expect(native.status).toBe(413);
    expect(await native.json()).toEqual({
      error: "request body exceeds 1000 bytes",
    });
    const openai = await fetch(`${harness.proxy.url}/v1/chat/completions`, {
      method: "POST",
      body: big,
    });
    expect(openai.status).toBe(413);
    expect(await openai.json()).toMatchObject({
      error: { type: "invalid_request_error" },
    });
  });

  it("answers 413 when a chunked body grows past the limit without declaring its size", async () => {
    const chunk = (text: string) =>
      `${text.length.toString(16)}\r\n${text}\r\n`;
    const answer = await rawExchange(harness.proxy.port, [
      "POST /api/chat HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
      chunk('{"model":"llama3.2","messages":[{"role":"user","content":"'),
      chunk("y".repeat(1500)),
      chunk('"}]}'),
      "0\r\n\r\n",
    ]);
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    const samples = await scrape(harness.proxy.url);
    expect(
      sumOf(samples, "ollama_proxy_rejected_total", {
        reason: "body_too_large",
      }),
    ).toBeGreaterThanOrEqual(3);
  });

  it("cuts a client that sends its headers too slowly", async () => {
    const started = Date.now();
    const answer = await rawExchange(harness.proxy.port, [
      "GET /api/tags HTTP/1.1\r\n",
      400,
      "Host: localhost\r\n",
      2000,
    ]);
    expect(answer).not.toContain("200 OK");
    // Cut by CLIENT_HEADERS_TIMEOUT_MS (600 ms), not by Node's default of 60 s.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("cuts a client that sends its body too slowly, with 408", async () => {
    const body = JSON.stringify({
      model: "llama3.2",
      prompt: "hi",
      stream: false,
    });
    const answer = await rawExchange(harness.proxy.port, [
      `POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`,
      body.slice(0, 10),
      2500,
      body.slice(10),
    ]);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it("never applies the request timeouts to a response stream that lasts longer", async () => {
    // 15 tokens at 5 tokens/s: about 3 s, more than twice CLIENT_REQUEST_TIMEOUT_MS.
    const response = await fetch(`${harness.proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "slow", prompt: "take your time" }),
    });
    const text = await response.text();
    expect(text.trim().split("\n").at(-1)).toContain('"done":true');
  });

  it("forwards malformed JSON unchanged so that Ollama answers it", async () => {
    const response = await fetch(`${harness.proxy.url}/api/chat`, {
      method: "POST",
      body: '{"model": "llama3.2", ',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: expect.any(String) as string,
    });
  });
});
