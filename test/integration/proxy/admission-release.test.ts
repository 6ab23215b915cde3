// The exchange's owner (exchange/owner.ts) gives an admission's grant back exactly once, also when the client left
// while the admission was still pending: access control no longer watches the connection for it.
import http from "node:http";
import { pino } from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClientIpResolver } from "@proxy/http/client-ip.ts";
import type { Admission } from "@proxy/exchange/admission.ts";
import {
  createExchangeOwner,
  type ExchangeOwner,
} from "@proxy/exchange/owner.ts";
import { createBackendPool } from "@proxy/backends/pool.ts";
import { createMetrics } from "@proxy/metrics/definitions.ts";
import { createModelAllowList } from "@proxy/metrics/model-label.ts";
import type { ExchangeSummary } from "@proxy/exchange/outcome.ts";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { waitFor } from "../../helpers/wait-for.ts";

describe("admission release", () => {
  let emulator: Emulator;
  let server: http.Server;
  let handler: ExchangeOwner;
  let port = 0;
  const summaries: ExchangeSummary[] = [];
  let pending: Array<(admission: Admission) => void> = [];
  let signals: AbortSignal[] = [];
  let hookCalls = 0;

  beforeAll(async () => {
    emulator = await createEmulator({ host: "127.0.0.1", port: 0 });
    const logger = pino({ level: "silent" });
    const metrics = createMetrics(new Registry());
    const models = createModelAllowList();
    handler = createExchangeOwner(
      {
        upstreamTimeoutMs: 0,
        maxBodyBytes: 1_000_000,
        injectStreamUsage: true,
        maxCaptureChars: 8192,
        clientHeader: undefined,
      },
      {
        backends: createBackendPool(
          {
            backends: [
              {
                name: "default",
                url: emulator.url,
                weight: 1,
                maxConcurrent: undefined,
              },
            ],
            idleTimeoutMs: 0,
            pollIntervalMs: 60_000,
            pollTimeoutMs: 5000,
          },
          { metrics, models, logger },
        ),
        logger,
        metrics,
        models,
        clientIpOf: createClientIpResolver([]),
        finishHooks: [
          () => {
            throw new Error("a consumer's bug");
          },
          (summary) => summaries.push(summary),
          () => hookCalls++,
        ],
        admit: (context) => {
          signals.push(context.signal);
          return new Promise((resolve) => pending.push(resolve));
        },
      },
    );
    server = http.createServer((req, res) => handler.handle(req, res));
    await new Promise<void>((resolve) =>
      server.listen(0, "127.0.0.1", resolve),
    );
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    handler?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await emulator?.close();
  });

  const startChat = () => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/api/chat",
      headers: { "content-type": "application/json" },
    });
    req.on("error", () => undefined);
    req.end(
      JSON.stringify({
        model: "llama3.2",
        messages: [{ role: "user", content: "hi" }],
      }),
    );
    return req;
  };

  /** The status of the response to `req`, once its body has been read. */
  const statusOf = (req: http.ClientRequest) =>
    new Promise<number>((resolve) =>
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      }),
    );

  it("aborts a waiting admission's signal when the client leaves, and only then", async () => {
    pending = [];
    signals = [];
    const req = startChat();
    await waitFor(() => pending.length === 1);
    expect(signals[0]?.aborted).toBe(false);
    req.destroy();
    await waitFor(() => signals[0]?.aborted === true);
    pending[0]!({ ok: false, status: 499, message: "gone", reason: "x" });
  });

  it("runs every finish hook once, even after one of them throws", async () => {
    pending = [];
    const calls = hookCalls;
    const before = summaries.length;
    const req = startChat();
    const answered = statusOf(req);
    await waitFor(() => pending.length === 1);
    pending[0]!({ ok: true });
    expect(await answered).toBe(200);
    await waitFor(() => hookCalls === calls + 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(hookCalls).toBe(calls + 1);
    expect(summaries.length).toBe(before + 1);
    expect(summaries.at(-1)?.outcome).toBe("ok");
  });

  it("releases a grant that arrives after the client left, once, and forwards nothing", async () => {
    pending = [];
    const before = emulator.stats.requests;
    const summariesBefore = summaries.length;
    const req = startChat();
    await waitFor(() => pending.length === 1);
    req.destroy();
    // The exchange finished (client_closed) while its admission was pending.
    await waitFor(() => summaries.length === summariesBefore + 1);
    let released = 0;
    pending[0]!({ ok: true, release: () => released++ });
    await waitFor(() => released === 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(1);
    expect(emulator.stats.requests).toBe(before);
    expect(summaries.at(-1)?.outcome).not.toBe("ok");
  });

  it("releases a grant once when the exchange ends normally", async () => {
    pending = [];
    const req = startChat();
    const answered = statusOf(req);
    await waitFor(() => pending.length === 1);
    let released = 0;
    pending[0]!({ ok: true, release: () => released++ });
    expect(await answered).toBe(200);
    await waitFor(() => released === 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toBe(1);
  });
});
