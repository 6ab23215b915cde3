// Start, drain and failure paths of the proxy process.
import { afterEach, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { freePort } from "../../helpers/free-port.ts";
import { scrape, sumOf } from "../../helpers/metrics.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { waitFor } from "../../helpers/wait-for.ts";

describe("lifecycle", () => {
  let emulator: Emulator | undefined;
  let proxy: ProxyProcess | undefined;
  afterEach(async () => {
    await proxy?.stop("SIGKILL");
    await emulator?.close();
    proxy = undefined;
    emulator = undefined;
  });

  it("drains in-flight streams on SIGTERM before exiting", async () => {
    emulator = await createEmulator({
      port: 0,
      models: [{ name: "slow:latest", tokensPerSecond: 20, replyTokens: 30 }],
    });
    proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      SHUTDOWN_GRACE_MS: "10000",
    });
    const response = await fetch(`${proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "slow", prompt: "take your time" }),
    });
    const pending = response.text();
    await waitFor(() => emulator!.stats.activeGenerations === 1);
    const exit = proxy.stop("SIGTERM");
    const body = await pending;
    expect(body.trim().split("\n").at(-1)).toContain('"done":true');
    expect(await exit).toBe(0);
    // It stopped accepting new connections while draining.
    await expect(fetch(`${proxy.url}/api/version`)).rejects.toThrow();
  });

  it("answers 502 in the client's error shape when Ollama is unreachable, and says so on /readyz", async () => {
    const deadPort = await freePort();
    proxy = await startProxy({ OLLAMA_URL: `http://127.0.0.1:${deadPort}` });
    const native = await fetch(`${proxy.url}/api/chat`, {
      method: "POST",
      body: '{"model":"m","messages":[]}',
    });
    expect(native.status).toBe(502);
    expect(await native.json()).toEqual({
      error: expect.stringContaining("unreachable") as string,
    });
    const openai = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: "POST",
      body: '{"model":"m"}',
    });
    expect(openai.status).toBe(502);
    expect(await openai.json()).toMatchObject({
      error: { message: expect.any(String) as string, type: "api_error" },
    });
    expect((await fetch(`${proxy.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${proxy.url}/healthz`)).status).toBe(200);
    const samples = await scrape(proxy.url);
    expect(sumOf(samples, "ollama_upstream_up")).toBe(0);
    expect(
      sumOf(samples, "ollama_proxy_upstream_errors_total", {
        reason: "connect",
      }),
    ).toBe(2);
    expect(sumOf(samples, "ollama_requests_total", { status: "502" })).toBe(2);
  });

  it("cuts a stalled upstream after UPSTREAM_TIMEOUT_MS of silence", async () => {
    emulator = await createEmulator({ port: 0 });
    proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      UPSTREAM_TIMEOUT_MS: "300",
    });
    const response = await fetch(`${proxy.url}/api/generate`, {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", prompt: "x" }),
      headers: { "x-emulator-fault": "stall" },
    });
    await expect(response.text()).rejects.toThrow();
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_proxy_upstream_errors_total"),
    ).toBeGreaterThanOrEqual(1);
  });

  it("serves /metrics only on METRICS_PORT when it is set", async () => {
    emulator = await createEmulator({ port: 0 });
    const metricsPort = await freePort();
    proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      METRICS_PORT: String(metricsPort),
    });
    const own = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(await own.text()).toContain("ollama_upstream_up");
    // On the proxy port /metrics is just another path, forwarded to Ollama.
    expect(await (await fetch(`${proxy.url}/metrics`)).text()).toBe(
      "404 page not found",
    );
  });
});
