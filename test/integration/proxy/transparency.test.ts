// The contract: every call behaves through the proxy exactly as it does against Ollama. Each request is sent
// directly to the emulator and through the proxy; status, headers that carry meaning and body bytes must match.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeBody, startHarness, type Harness } from "./harness.ts";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(
  baseUrl: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const MEANINGFUL_HEADERS = [
  "content-type",
  "allow",
  "location",
  "vary",
  "access-control-allow-origin",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-max-age",
  "cache-control",
];

const json = (value: unknown) => JSON.stringify(value);

const CASES: Array<
  [string, string, string | undefined, Record<string, string>?]
> = [
  ["GET", "/", undefined],
  ["HEAD", "/", undefined],
  ["GET", "/api/version", undefined],
  ["GET", "/api/tags", undefined],
  [
    "POST",
    "/api/generate",
    json({ model: "llama3.2", prompt: "Why is the sky blue?" }),
  ],
  [
    "POST",
    "/api/generate",
    json({ model: "llama3.2", prompt: "Why is the sky blue?", stream: false }),
  ],
  ["POST", "/api/generate", json({ model: "llama3.2" })],
  [
    "POST",
    "/api/chat",
    json({
      model: "llama3.2",
      messages: [{ role: "user", content: "Hi <there> & bye" }],
    }),
  ],
  [
    "POST",
    "/api/chat",
    json({
      model: "llama3.2",
      messages: [{ role: "user", content: "Hi" }],
      stream: false,
    }),
  ],
  [
    "POST",
    "/api/chat",
    json({ model: "nope", messages: [{ role: "user", content: "Hi" }] }),
  ],
  ["POST", "/api/chat", "{not json"],
  ["POST", "/api/chat", ""],
  ["POST", "/api/embed", json({ model: "all-minilm", input: ["a", "b c"] })],
  ["POST", "/api/embeddings", json({ model: "all-minilm", prompt: "a" })],
  ["POST", "/api/show", json({ model: "llama3.2" })],
  [
    "POST",
    "/v1/chat/completions",
    json({ model: "llama3.2", messages: [{ role: "user", content: "Hi" }] }),
  ],
  [
    "POST",
    "/v1/chat/completions",
    json({
      model: "llama3.2",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "Hi" }],
    }),
  ],
  ["POST", "/v1/completions", json({ model: "llama3.2", prompt: "Once" })],
  ["POST", "/v1/embeddings", json({ model: "all-minilm", input: "x" })],
  ["GET", "/v1/models", undefined],
  ["GET", "/v1/models/llama3.2:latest", undefined],
  ["GET", "/v1/models/missing", undefined],
  ["GET", "/api/chat", undefined],
  ["GET", "/no/such/path?x=1", undefined],
  // (A trailing slash, gin's redirect, is refused before Ollama: hostile-paths.test.ts.)
  [
    "POST",
    "/api/generate",
    json({ model: "llama3.2", prompt: "x" }),
    { "x-emulator-fault": "model-not-found" },
  ],
  [
    "OPTIONS",
    "/api/chat",
    undefined,
    {
      Origin: "http://localhost:3000",
      "Access-Control-Request-Method": "POST",
    },
  ],
  ["GET", "/api/tags", undefined, { Origin: "http://localhost:8080" }],
  ["GET", "/api/tags", undefined, { Origin: "https://evil.example" }],
];

describe("byte transparency", () => {
  let harness: Harness;
  beforeAll(async () => {
    // A public name clients use for this machine: served because it is configured (DNS-rebinding guard).
    harness = await startHarness({
      env: { ALLOWED_HOSTS: "ollama.example.com" },
    });
    // Warm the emulator's model so load_duration does not differ between the two calls.
    await send(
      harness.emulator.url,
      "POST",
      "/api/generate",
      json({ model: "llama3.2", prompt: "warm" }),
    );
  });
  afterAll(() => harness.close());

  it.each(CASES)("%s %s %s", async (method, path, body, headers = {}) => {
    const direct = await send(
      harness.emulator.url,
      method,
      path,
      body,
      headers,
    );
    const proxied = await send(harness.proxy.url, method, path, body, headers);
    expect(proxied.status).toBe(direct.status);
    for (const name of MEANINGFUL_HEADERS)
      expect([name, proxied.headers[name]]).toEqual([
        name,
        direct.headers[name],
      ]);
    expect(normalizeBody(proxied.body)).toBe(normalizeBody(direct.body));
    expect(proxied.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps a client's X-Request-Id", async () => {
    const proxied = await send(
      harness.proxy.url,
      "GET",
      "/api/version",
      undefined,
      { "X-Request-Id": "trace-42" },
    );
    expect(proxied.headers["x-request-id"]).toBe("trace-42");
  });

  it("rewrites an allowed Host so Ollama's DNS-rebinding guard accepts proxied calls", async () => {
    const headers = { Host: "ollama.example.com" };
    expect(
      (
        await send(
          harness.emulator.url,
          "GET",
          "/api/version",
          undefined,
          headers,
        )
      ).status,
    ).toBe(403);
    expect(
      (await send(harness.proxy.url, "GET", "/api/version", undefined, headers))
        .status,
    ).toBe(200);
  });

  it("forwards the query string and the exact request body bytes", async () => {
    const body =
      '{"model":"llama3.2",  "prompt":"spacing\\u00e9 kept", "stream":false}';
    await send(
      harness.proxy.url,
      "POST",
      "/api/generate?trace=1&x=%20y",
      body,
      { "Content-Type": "text/plain" },
    );
    const seen = harness.emulator.stats.lastRequest;
    expect(seen?.path).toBe("/api/generate?trace=1&x=%20y");
    expect(seen?.body.toString("utf8")).toBe(body);
    expect(seen?.headers["content-type"]).toBe("text/plain");
  });

  it("does not serve anything but its own routes: /metrics is the proxy's, the rest is Ollama's", async () => {
    expect((await send(harness.proxy.url, "GET", "/metrics")).body).toContain(
      "ollama_requests_total",
    );
    expect((await send(harness.proxy.url, "POST", "/metrics")).body).toBe(
      "404 page not found",
    );
    expect((await send(harness.proxy.url, "GET", "/healthz")).status).toBe(200);
    expect((await send(harness.proxy.url, "GET", "/readyz")).status).toBe(200);
  });
});
