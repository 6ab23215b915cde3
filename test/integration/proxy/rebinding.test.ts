// DNS rebinding and the prompt store, through the real proxy process: only local Host names (and ALLOWED_HOSTS)
// are served, on every route; the rest get 403 and one record, and reach nothing. The analytics API answers 401
// without a credential whether API keys are on or off.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKeysDir,
  type KeysDir,
} from "../../fixtures/access/admission.ts";
import {
  startLenientUpstream,
  type LenientUpstream,
} from "../../fixtures/lenient-upstream.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { sendRaw, type RawAnswer } from "../../helpers/raw-request.ts";

/** One request as raw bytes: the Host header (or headers) exactly as given. */
function send(
  port: number,
  target: string,
  hostLines: string[],
): Promise<RawAnswer> {
  return sendRaw(port, [
    `GET ${target} HTTP/1.1`,
    ...hostLines.map((host) => `Host: ${host}`),
  ]);
}

const ALLOWED = [
  "localhost",
  "localhost:11434",
  "LOCALHOST",
  "localhost.",
  "127.0.0.1",
  "127.0.0.1:11434",
  "[::1]",
  "[::1]:11434",
  "192.168.1.10:11434",
  "open-webui.localhost",
  "box.local",
  "host.docker.internal",
  "gpu-box.lan", // configured in ALLOWED_HOSTS below
];
const REFUSED = [
  "evil.example",
  "evil.example:11434",
  "evil.example.",
  "localhost.evil.example",
  "127.0.0.1.nip.io",
  "127.0.0.1.nip.io:11434",
  "0x7f000001",
  "0x7f000001:11434",
  "2130706433",
  "8.8.8.8",
  "[2001:db8::1]:11434",
];

describe("DNS rebinding guard", () => {
  let upstream: LenientUpstream;
  let proxy: ProxyProcess;
  beforeAll(async () => {
    upstream = await startLenientUpstream();
    proxy = await startProxy({
      OLLAMA_URL: upstream.url,
      ALLOWED_HOSTS: "gpu-box.lan",
    });
  });
  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  it.each(ALLOWED)("forwards Host: %s", async (host) => {
    const answer = await send(proxy.port, "/api/tags", [host]);
    expect(answer.status).toBe(200);
    expect(upstream.receivedFor(answer.requestId!)).toBeDefined();
  });

  it.each(REFUSED)(
    "answers Host: %s with 403, records it and forwards nothing",
    async (host) => {
      const answer = await send(proxy.port, "/api/tags", [host]);
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toEqual({
        error: expect.stringMatching(/^host not allowed: /) as unknown,
      });
      expect(upstream.receivedFor(answer.requestId!)).toBeUndefined();
      expect(await proxy.recordFor(answer.requestId!)).toMatchObject({
        status: 403,
        outcome: "rejected",
      });
    },
  );

  it("answers in the route family's shape", async () => {
    const answer = await send(proxy.port, "/v1/models", ["evil.example"]);
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({
      error: { type: "permission_error" },
    });
  });

  it("guards the proxy's own routes too: /metrics, /healthz, /readyz, /analytics", async () => {
    for (const path of [
      "/metrics",
      "/healthz",
      "/readyz",
      "/analytics/export",
    ]) {
      const answer = await send(proxy.port, path, ["evil.example"]);
      expect(answer.status, path).toBe(403);
    }
    expect((await send(proxy.port, "/healthz", ["localhost"])).status).toBe(
      200,
    );
  });

  it("judges an absolute-form target by its authority, which replaces Host", async () => {
    const foreign = await send(proxy.port, "http://evil.example/api/tags", [
      "localhost",
    ]);
    expect(foreign.status).toBe(403);
    expect(upstream.receivedFor(foreign.requestId!)).toBeUndefined();
    const local = await send(proxy.port, "http://localhost:11434/api/tags", [
      "evil.example",
    ]);
    expect(local.status).toBe(200);
    expect(upstream.receivedFor(local.requestId!)?.target).toBe("/api/tags");
  });

  it("refuses two Host headers with 400, whichever comes first", async () => {
    for (const hosts of [
      ["localhost", "evil.example"],
      ["evil.example", "localhost"],
      ["localhost", "localhost"],
    ]) {
      const answer = await send(proxy.port, "/api/tags", hosts);
      expect(answer.status, hosts.join(" + ")).toBe(400);
      expect(upstream.receivedFor(answer.requestId!)).toBeUndefined();
    }
  });
});

describe("ALLOWED_HOSTS=*", () => {
  it("turns the guard off knowingly", async () => {
    const upstream = await startLenientUpstream();
    const proxy = await startProxy({
      OLLAMA_URL: upstream.url,
      ALLOWED_HOSTS: "*",
    });
    try {
      const answer = await send(proxy.port, "/api/tags", ["evil.example"]);
      expect(answer.status).toBe(200);
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });
});

describe("the analytics API is never open", () => {
  const TOKEN = "analytics-token-for-tests-0123";
  let upstream: LenientUpstream;
  let keys: KeysDir;
  const proxies: ProxyProcess[] = [];
  beforeAll(async () => {
    upstream = await startLenientUpstream();
    keys = await createKeysDir([
      { name: "web" },
      { name: "ops", role: "admin" },
    ]);
  });
  afterAll(async () => {
    await Promise.all(proxies.map((proxy) => proxy.stop("SIGKILL")));
    await upstream?.close();
    await keys?.close();
  });
  const start = async (env: Record<string, string>) => {
    const proxy = await startProxy({ OLLAMA_URL: upstream.url, ...env });
    proxies.push(proxy);
    return proxy;
  };
  const get = async (
    proxy: ProxyProcess,
    headers: Record<string, string> = {},
  ) => {
    const response = await fetch(`${proxy.url}/analytics/export`, { headers });
    return { status: response.status, body: await response.text() };
  };

  it("keys off, no token set: 401 for everyone", async () => {
    const proxy = await start({});
    const answer = await get(proxy);
    expect(answer.status).toBe(401);
    expect(answer.body).toContain("ANALYTICS_TOKEN");
    expect(
      (await get(proxy, { Authorization: `Bearer ${TOKEN}` })).status,
    ).toBe(401);
  });

  it("keys off, a token set: 401 without it, served with it", async () => {
    const proxy = await start({ ANALYTICS_TOKEN: TOKEN });
    expect((await get(proxy)).status).toBe(401);
    expect((await get(proxy, { Authorization: "Bearer wrong" })).status).toBe(
      401,
    );
    // Past authorisation: no LOKI_URL here, so the API answers 503.
    expect(
      (await get(proxy, { Authorization: `Bearer ${TOKEN}` })).status,
    ).toBe(503);
  });

  it("keys on: 401 without a credential, 403 for a user key, served for an admin key or the token", async () => {
    const proxy = await start({
      API_KEYS_FILE: keys.file,
      ANALYTICS_TOKEN: TOKEN,
    });
    expect((await get(proxy)).status).toBe(401);
    expect(
      (await get(proxy, { Authorization: `Bearer ${keys.secrets.web!}` }))
        .status,
    ).toBe(403);
    expect(
      (await get(proxy, { Authorization: `Bearer ${keys.secrets.ops!}` }))
        .status,
    ).toBe(503);
    expect(
      (await get(proxy, { Authorization: `Bearer ${TOKEN}` })).status,
    ).toBe(503);
  });
});
