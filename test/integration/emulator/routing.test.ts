// gin's router behaviour and Ollama's middlewares: 404/405 text bodies, trailing-slash
// redirects, CORS (§9.2) and the DNS-rebinding Host check (§9.3).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmulator } from "../../fixtures/ollama-emulator/emulator.ts";
import type { Emulator } from "../../fixtures/ollama-emulator/emulator.ts";
import { raw } from "./raw-http.ts";

let emulator: Emulator;
let url: string;

beforeAll(async () => {
  emulator = await createEmulator({ origins: ["https://app.example.com"] });
  url = emulator.url;
});

afterAll(async () => {
  await emulator.close();
});

describe("router", () => {
  it("answers an unknown path with a plain-text 404", async () => {
    const res = await raw(url, { path: "/api/nope" });
    expect(res.status).toBe(404);
    expect(res.headers["content-type"]).toBe("text/plain");
    expect(res.body).toBe("404 page not found");
  });

  it.each([
    ["GET", "/api/chat", "POST"],
    ["POST", "/", "HEAD, GET"],
    ["POST", "/api/tags", "HEAD, GET"],
    ["HEAD", "/api/ps", "GET"],
    ["GET", "/api/delete", "DELETE"],
  ])("answers %s %s with 405 and Allow: %s", async (method, path, allow) => {
    const res = await raw(url, { method, path });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    if (method !== "HEAD") expect(res.body).toBe("405 method not allowed");
  });

  it("redirects a trailing slash: 301 for GET, 307 otherwise, keeping the query", async () => {
    const get = await raw(url, { path: "/api/tags/?x=1" });
    expect(get.status).toBe(301);
    expect(get.headers.location).toBe("/api/tags?x=1");
    expect(get.body).toBe('<a href="/api/tags?x=1">Moved Permanently</a>.\n\n');
    const post = await raw(url, {
      method: "POST",
      path: "/api/chat/",
      body: "{}",
    });
    expect(post.status).toBe(307);
    expect(post.headers.location).toBe("/api/chat");
    const model = await raw(url, { path: "/v1/models/llama3.2/" });
    expect(model.status).toBe(301);
    expect(model.headers.location).toBe("/v1/models/llama3.2");
  });

  it("serves the /v1/models/:model path parameter verbatim", async () => {
    const res = await raw(url, { path: "/v1/models/llama3.2" });
    expect(res.headers["content-type"]).toBe("application/json");
    expect(res.body.endsWith("}\n")).toBe(true);
    expect(JSON.parse(res.body)).toMatchObject({
      id: "llama3.2",
      object: "model",
      owned_by: "library",
    });
  });
});

describe("CORS", () => {
  const preflight = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type",
  };

  it("answers an allowed preflight with 204 and the allow lists", async () => {
    const res = await raw(url, {
      method: "OPTIONS",
      path: "/api/chat",
      headers: { origin: "http://localhost:5173", ...preflight },
    });
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe(
      "http://localhost:5173",
    );
    expect(res.headers["access-control-allow-methods"]).toBe(
      "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS",
    );
    expect(res.headers["access-control-allow-headers"]).toContain(
      "X-Stainless-Timeout",
    );
    expect(res.headers["access-control-max-age"]).toBe("43200");
    expect(res.headers.vary).toBe(
      "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    );
  });

  it("echoes an allowed origin on normal requests, including configured extra origins", async () => {
    for (const origin of [
      "https://app.example.com",
      "vscode-webview://abc",
      "http://127.0.0.1:3000",
    ]) {
      const res = await raw(url, { path: "/api/version", headers: { origin } });
      expect(res.status).toBe(200);
      expect(res.headers["access-control-allow-origin"]).toBe(origin);
      expect(res.headers.vary).toBe("Origin");
    }
  });

  it("rejects other origins with an empty 403, and skips same-origin requests", async () => {
    const res = await raw(url, {
      path: "/api/version",
      headers: { origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
    expect(res.body).toBe("");
    const same = await raw(url, {
      path: "/api/version",
      headers: { origin: url },
    });
    expect(same.status).toBe(200);
    expect(same.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

describe("Host check on a loopback listener", () => {
  it.each([
    "localhost:11434",
    "127.0.0.1",
    "10.0.0.5:80",
    "ollama.internal",
    "box.local",
    "[::1]:11434",
  ])("accepts Host %s", async (host) => {
    const res = await raw(url, { path: "/api/version", headers: { host } });
    expect(res.status).toBe(200);
  });

  it("rejects a public Host with an empty 403, and answers an OPTIONS to a named local host with 204", async () => {
    const res = await raw(url, {
      path: "/api/version",
      headers: { host: "ollama.example.com" },
    });
    expect(res.status).toBe(403);
    expect(res.body).toBe("");
    const options = await raw(url, {
      method: "OPTIONS",
      path: "/api/chat",
      headers: { host: "localhost" },
    });
    expect(options.status).toBe(204);
  });

  it("accepts every Host when the check is off (as on 0.0.0.0)", async () => {
    const open = await createEmulator({ checkHost: false });
    try {
      const res = await raw(open.url, {
        path: "/api/version",
        headers: { host: "ollama.example.com" },
      });
      expect(res.status).toBe(200);
    } finally {
      await open.close();
    }
  });
});
