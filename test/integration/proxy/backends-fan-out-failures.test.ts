// A management request sent to every backend (here /api/copy) judges a backend's failure as forwarding does: a
// reset or a silent backend counts toward the three-in-a-row streak, and only the third takes it out, under the
// reason that names the failure. The misbehaving backend answers the proxy's polls, so only the fan-out can fail.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startMisbehavingBackend } from "../../helpers/misbehaving-backend.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { scrape, sumOf, untilPolled } from "../../helpers/metrics.ts";

describe("a management fan-out's failures", () => {
  let good: Emulator;
  beforeAll(async () => {
    good = await createEmulator({
      models: [{ name: "llama3.2:latest", ttftMs: 1, loadMs: 1 }],
    });
  });
  afterAll(async () => {
    await good?.close();
  });

  for (const [mode, reason] of [
    ["reset", "reset"],
    ["silent", "timeout"],
  ] as const) {
    it(`counts a backend's ${mode === "reset" ? "resets" : "silences"} toward the streak and takes it out at the third (${reason})`, async () => {
      const bad = await startMisbehavingBackend(mode);
      let proxy: ProxyProcess | undefined;
      try {
        proxy = await startProxy({
          OLLAMA_URL: "",
          OLLAMA_BACKENDS: `good=${good.url},bad=${bad.url}`,
          // Only the first poll: a later one would let the backend back in before the counts are read.
          POLL_INTERVAL_MS: "600000",
          UPSTREAM_TIMEOUT_MS: "300",
        });
        const via = proxy;
        const ejections = async () =>
          sumOf(await scrape(via.url), "ollama_proxy_backend_ejections_total", {
            backend: "bad",
            reason,
          });
        const badHealthy = async () =>
          sumOf(await scrape(via.url), "ollama_proxy_backend_healthy", {
            backend: "bad",
          });
        await untilPolled(via.url, "bad");
        const copy = async (n: number) => {
          const response = await fetch(`${via.url}/api/copy`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              source: "llama3.2",
              destination: `copy-${n}`,
            }),
          });
          return { status: response.status, text: await response.text() };
        };

        for (const n of [1, 2]) {
          const answer = await copy(n);
          expect(answer.status).toBeGreaterThanOrEqual(500);
          expect(answer.text).toContain("failed on bad");
          expect(answer.text).toContain("it succeeded on good");
        }
        expect(await ejections()).toBe(0);
        expect(await badHealthy()).toBe(1);

        await copy(3);
        expect(await ejections()).toBe(1);
        expect(await badHealthy()).toBe(0);
        // Out of the rotation, it is no longer asked: the next copy succeeds on the good backend alone.
        expect((await copy(4)).status).toBe(200);
      } finally {
        await proxy?.stop("SIGKILL");
        bad.close();
      }
    });
  }
});
