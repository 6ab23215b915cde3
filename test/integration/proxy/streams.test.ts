// Streaming behaviour that users feel: aborts reach Ollama at once, many streams at a time stay intact, a slow
// reader slows Ollama down instead of filling the proxy's memory.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { startProxy } from "../../helpers/proxy-process.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { normalizeBody, startHarness, type Harness } from "./harness.ts";

async function text(url: string, body: unknown): Promise<string> {
  const response = await fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
  });
  return response.text();
}

describe("streams", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      emulator: {
        models: [
          { name: "llama3.2:latest", tokensPerSecond: 200, ttftMs: 5 },
          { name: "slow:latest", tokensPerSecond: 20, replyTokens: 400 },
          { name: "firehose:latest", tokensPerSecond: 0, replyTokens: 400_000 },
        ],
      },
    });
  });
  afterAll(() => harness.close());

  it("stops Ollama's generation as soon as the client disconnects", async () => {
    const before = harness.emulator.stats.abortedGenerations;
    const controller = new AbortController();
    const response = await fetch(`${harness.proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "slow", prompt: "a long story" }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    expect(harness.emulator.stats.activeGenerations).toBe(1);
    controller.abort();
    await waitFor(
      () => harness.emulator.stats.abortedGenerations === before + 1,
      { timeoutMs: 2000 },
    );
    expect(harness.emulator.stats.activeGenerations).toBe(0);
  });

  it("does not count clients that leave mid-stream as Ollama resets", async () => {
    // Three in a row would take a healthy backend out of the rotation (backends/health.ts).
    const before = harness.emulator.stats.abortedGenerations;
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const response = await fetch(`${harness.proxy.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({
          model: "slow",
          messages: [{ role: "user", content: "a long story" }],
        }),
        signal: controller.signal,
      });
      await response.body!.getReader().read();
      controller.abort();
      await waitFor(
        () => harness.emulator.stats.abortedGenerations === before + i + 1,
        { timeoutMs: 2000 },
      );
    }
    const samples = await scrape(harness.proxy.url);
    expect(sumOf(samples, "ollama_proxy_upstream_errors_total")).toBe(0);
    expect(sumOf(samples, "ollama_proxy_backend_ejections_total")).toBe(0);
  });

  it("carries 200 concurrent streams intact", async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => ({
      model: "llama3.2",
      messages: [{ role: "user", content: `question number ${i}` }],
      options: { num_predict: 20 },
    }));
    const expected = await Promise.all(
      bodies.map((body) => text(`${harness.emulator.url}/api/chat`, body)),
    );
    const actual = await Promise.all(
      bodies.map((body) => text(`${harness.proxy.url}/api/chat`, body)),
    );
    for (let i = 0; i < bodies.length; i++) {
      expect(normalizeBody(actual[i]!)).toBe(normalizeBody(expected[i]!));
      expect(actual[i]!.trim().split("\n").at(-1)).toContain('"done":true');
    }
  });

  it("holds backpressure: a client that stops reading stalls Ollama, not the proxy's memory", async () => {
    const completedBefore = harness.emulator.stats.completedGenerations;
    const url = new URL("/api/generate", harness.proxy.url);
    let received = 0;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(url, { method: "POST" }, resolve);
      req.on("error", reject);
      req.end(JSON.stringify({ model: "firehose", prompt: "everything" }));
    });
    res.on("data", (chunk: Buffer) => {
      received += chunk.length;
    });
    res.pause();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // ~400k tokens is tens of megabytes: had the proxy buffered, Ollama would have finished by now.
    expect(harness.emulator.stats.completedGenerations).toBe(completedBefore);
    expect(harness.emulator.stats.activeGenerations).toBe(1);
    res.resume();
    await new Promise((resolve) => res.on("end", resolve));
    expect(received).toBeGreaterThan(10_000_000);
    await waitFor(
      () => harness.emulator.stats.completedGenerations === completedBefore + 1,
      { timeoutMs: 5000 },
    );
  });

  it("ends a stream Ollama cut with an error line in Ollama's shape, instead of hanging", async () => {
    const response = await fetch(`${harness.proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", prompt: "x" }),
      headers: { "x-emulator-fault": "abrupt-close" },
    });
    const lines = (await response.text()).trim().split("\n");
    expect(response.status).toBe(200);
    expect(JSON.parse(lines.at(-1)!)).toEqual({
      error: expect.stringMatching(
        /^Ollama at 127\.0\.0\.1:\d+ closed the connection mid-response$/,
      ) as unknown,
    });
    const record = await harness.proxy.recordFor(
      response.headers.get("x-request-id") ?? "",
    );
    expect(record).toMatchObject({
      outcome: "upstream_error",
      error: expect.stringMatching(
        /closed the connection mid-response$/,
      ) as unknown,
    });
  });

  it("ends a /v1 stream Ollama cut with an OpenAI error event", async () => {
    const response = await fetch(`${harness.proxy.url}/v1/chat/completions`, {
      method: "POST",
      body: JSON.stringify({
        model: "llama3.2",
        stream: true,
        messages: [{ role: "user", content: "x" }],
      }),
      headers: { "x-emulator-fault": "abrupt-close" },
    });
    const events = (await response.text())
      .split("\n\n")
      .map((event) => event.trim())
      .filter((event) => event !== "");
    const last = JSON.parse(events.at(-1)!.replace(/^data: /, "")) as {
      error: { message: string; type: string };
    };
    expect(last.error.type).toBe("api_error");
    expect(last.error.message).toMatch(/closed the connection mid-response$/);
  });
});

describe("chunk by chunk", () => {
  // An upstream that writes each NDJSON line only after the client has read the one before: had the proxy held
  // any line back (buffering, coalescing until the end), the client would wait forever. No clock is involved.
  it("delivers every streamed line before Ollama writes the next one", async () => {
    const lines = Array.from({ length: 5 }, (_, i) =>
      JSON.stringify({
        model: "llama3.2",
        created_at: new Date().toISOString(),
        response: `token${i}`,
        done: false,
      }),
    );
    lines.push(
      JSON.stringify({
        model: "llama3.2",
        response: "",
        done: true,
        eval_count: 5,
      }),
    );
    let delivered = (_index: number): void => {};
    const upstream = http.createServer((req, res) => {
      req.resume();
      if (req.url !== "/api/generate") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(req.url === "/api/tags" ? '{"models":[]}' : "{}");
        return;
      }
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      let next = 0;
      delivered = (index) => {
        if (index !== next - 1) return;
        if (next < lines.length) res.write(`${lines[next++]}\n`);
        if (next === lines.length) res.end();
      };
      res.write(`${lines[next++]}\n`);
    });
    await new Promise<void>((resolve) =>
      upstream.listen(0, "127.0.0.1", resolve),
    );
    const { port } = upstream.address() as { port: number };
    const proxy = await startProxy({ OLLAMA_URL: `http://127.0.0.1:${port}` });
    try {
      const response = await fetch(`${proxy.url}/api/generate`, {
        method: "POST",
        body: JSON.stringify({ model: "llama3.2", prompt: "count" }),
      });
      const decoder = new TextDecoder();
      const received: string[] = [];
      let tail = "";
      for await (const chunk of response.body! as AsyncIterable<Uint8Array>) {
        const parts = (tail + decoder.decode(chunk, { stream: true })).split(
          "\n",
        );
        tail = parts.pop() ?? "";
        for (const line of parts) {
          received.push(line);
          delivered(received.length - 1);
        }
      }
      expect(received).toEqual(lines);
      expect(tail).toBe("");
    } finally {
      await proxy.stop("SIGKILL");
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});
