// A request retried on another backend after a failure before any byte must land where its model is: the model
// dispatch chose by. For GET /v1/models/{model} that is the path's model — the body names none — so a retry that
// asked for "any backend" would reach one without the model and answer 404.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import {
  startMisbehavingBackend,
  type MisbehavingBackend,
} from "../../helpers/misbehaving-backend.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { scrape, sumOf, untilPolled } from "../../helpers/metrics.ts";

const QWEN = "qwen3:0.6b";

describe("a retry before any byte", () => {
  let bad: MisbehavingBackend;
  let holder: Emulator;
  let other: Emulator;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    // `bad` says it has the model loaded, so it is every request's first choice until it is ejected; `holder`
    // has the model too; `other` does not, and is as idle as `holder` for a retry that ignores the model.
    bad = await startMisbehavingBackend("reset", [QWEN]);
    holder = await createEmulator({
      models: [{ name: QWEN, ttftMs: 1, loadMs: 1 }],
    });
    other = await createEmulator({
      models: [{ name: "llama3.2:latest", ttftMs: 1, loadMs: 1 }],
    });
    proxy = await startProxy({
      OLLAMA_URL: "",
      OLLAMA_BACKENDS: `bad=${bad.url},holder=${holder.url},other=${other.url}`,
      // Only the first poll: the failures are the traffic's to find.
      POLL_INTERVAL_MS: "600000",
    });
    // Its loaded model (/api/ps) too: `bad` must be every request's first choice.
    await untilPolled(proxy.url, "bad");
  });
  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    bad?.close();
    await holder?.close();
    await other?.close();
  });

  it("goes to a backend that has the model named in /v1/models/{model}'s path", async () => {
    // Three resets in a row eject `bad`: each of these requests meets it first and is retried.
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${proxy.url}/v1/models/${QWEN}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-ollama-backend")).toBe("holder");
      expect(await response.json()).toMatchObject({ id: QWEN });
    }
    const samples = await scrape(proxy.url);
    expect(
      sumOf(samples, "ollama_proxy_backend_retries_total", {
        backend: "bad",
        reason: "reset",
      }),
    ).toBe(3);
    expect(
      sumOf(samples, "ollama_proxy_backend_healthy", { backend: "bad" }),
    ).toBe(0);
  });
});
