// The analytics thread: exchanges handed over by the request thread become records in Loki, the thread's metrics
// are summed into /metrics without counting process figures twice, and a thread that dies is restarted while
// the request thread keeps handing over.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { Worker, type WorkerOptions } from "node:worker_threads";
import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  ANALYTICS_THREAD_NICE,
  startAnalyticsThread,
  type AnalyticsThread,
} from "@proxy/records/analytics-thread.ts";
import { loadConfig } from "@proxy/config.ts";
import { createMetrics, type Metrics } from "@proxy/metrics/definitions.ts";
import { combinedMetrics } from "@proxy/metrics/sources.ts";
import { captureLogger } from "../../fixtures/access/admission.ts";
import { summary } from "../../fixtures/exchange.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import { logger, pipelineOptions } from "../delivery/support.ts";

let loki: FakeLoki;
let registry: Registry;
let metrics: Metrics;
const threads: AnalyticsThread[] = [];

beforeEach(async () => {
  loki = await createFakeLoki();
  registry = new Registry();
  metrics = createMetrics(registry);
});

afterEach(async () => {
  for (const thread of threads.splice(0)) await thread.close();
  await loki.close();
});

function start(
  spawn?: (url: URL, options: WorkerOptions) => Worker,
  log: { logger: typeof logger; level: string } = { logger, level: "silent" },
  memoryMax = 100_000,
) {
  const thread = startAnalyticsThread(
    {
      config: loadConfig({ LOKI_URL: loki.url, LOG_LEVEL: log.level }),
      pipeline: pipelineOptions({ lokiUrl: loki.url, memoryMax }),
      clientLabel: false,
    },
    { metrics, logger: log.logger, spawn },
  );
  threads.push(thread);
  return thread;
}

const requestIds = () =>
  new Set(
    loki
      .entries()
      .map((entry) => (entry.parsed as { request_id: string }).request_id),
  );

/** The value of one sample line in the text format, e.g. `name{label="x"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("analytics thread", () => {
  it("builds the records on its own thread and ships them to Loki", async () => {
    const thread = start();
    for (let i = 0; i < 200; i++)
      thread.record(
        summary({ requestId: `t-${i}` }),
        i === 7 ? 0.25 : undefined,
      );

    await waitFor(() => requestIds().size === 200, { timeoutMs: 10_000 });
    const seventh = loki
      .entries()
      .map((entry) => entry.parsed as Record<string, unknown>)
      .find((record) => record.request_id === "t-7");
    expect(seventh).toMatchObject({
      request_id: "t-7",
      model: "llama3.2:latest",
      prompt: "user: write a sort in Go",
      completion_tokens: 40,
      cost: 0.25,
      category: "code",
    });
    expect(loki.entries()[0]?.labels).toMatchObject({ log_type: "request" });
  });

  it("sums its metrics into /metrics and leaves process metrics to the main thread", async () => {
    const thread = start();
    for (let i = 0; i < 30; i++)
      thread.record(summary({ requestId: `m-${i}` }));
    await waitFor(() => requestIds().size === 30, { timeoutMs: 10_000 });

    const source = combinedMetrics(registry, () => thread.metricsJson(2000));
    const text = await waitFor(
      async () => {
        const body = await source.metrics();
        return sample(body, 'ollama_proxy_records_total{outcome="shipped"}') ===
          30
          ? body
          : undefined;
      },
      { timeoutMs: 5000 },
    );
    expect(sample(text, 'ollama_proxy_records_total{outcome="enqueued"}')).toBe(
      30,
    );
    expect(
      sample(
        text,
        'ollama_prompt_category_total{model="llama3.2:latest",category="code"}',
      ),
    ).toBe(30);
    // Process figures come once, from the main thread, with its values (not summed with another thread's).
    const startTime = "ollama_proxy_process_start_time_seconds";
    expect(
      text.split("\n").filter((line) => line.startsWith(`${startTime} `)),
    ).toHaveLength(1);
    expect(sample(text, startTime)).toBe(
      sample(await registry.metrics(), startTime),
    );
    expect(text).toContain("# TYPE ollama_proxy_records_total counter");
  });

  it("restarts a thread that died, and exchanges handed over meanwhile still arrive", async () => {
    const spawned: Worker[] = [];
    const thread = start((url, options) => {
      const worker = new Worker(url, options);
      spawned.push(worker);
      return worker;
    });
    for (let i = 0; i < 10; i++)
      thread.record(summary({ requestId: `a-${i}` }));
    await waitFor(() => requestIds().size === 10, { timeoutMs: 10_000 });

    await spawned[0]?.terminate();
    // The thread is gone: these wait on the request thread until its successor starts.
    for (let i = 0; i < 10; i++)
      thread.record(summary({ requestId: `b-${i}` }));
    await waitFor(() => spawned.length === 2, { timeoutMs: 5000 });

    await waitFor(() => requestIds().size === 20, { timeoutMs: 10_000 });
    expect(await thread.metricsJson(2000)).toBeDefined();
  });

  it("writes its log lines through the request thread's logger, at their level", async () => {
    const captured = captureLogger();
    const thread = start(undefined, { logger: captured.logger, level: "info" });
    await loki.setMode({ kind: "status", status: 500 });
    thread.record(summary({ requestId: "l-1" }));
    const warning = await waitFor(
      () =>
        captured
          .lines()
          .find(
            (line) =>
              line.msg === "Loki push failed; retrying with backoff" &&
              line.thread === "analytics",
          ),
      { timeoutMs: 5000 },
    );
    expect(warning).toMatchObject({ level: 40, component: "analytics" });
  });

  it("bounds what a stalled thread has not taken in, and counts what dies with it", async () => {
    // A thread that takes messages and never processes them: CPU-starved, or stuck.
    const spawned: Worker[] = [];
    const thread = start(
      () => {
        const worker = new Worker(
          `const { parentPort } = require("node:worker_threads");
          parentPort.on("message", (m) => m.type === "close" && parentPort.postMessage({ id: m.id }));`,
          { eval: true },
        );
        spawned.push(worker);
        return worker;
      },
      undefined,
      50,
    );
    for (let i = 0; i < 80; i++)
      thread.record(summary({ requestId: `s-${i}` }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    thread.record(summary({ requestId: "s-late" }));
    const dropped = async (reason: string) =>
      (await metrics.recordsDropped.get()).values.find(
        (value) => value.labels.reason === reason,
      )?.value;
    const backlog = async () =>
      (await metrics.analyticsBacklog.get()).values[0]?.value;
    expect(await dropped("memory_full")).toBe(31);
    // What waits is visible before anything is lost.
    expect(await backlog()).toBe(50);

    await spawned[0]?.terminate();
    await waitFor(async () => (await dropped("thread_exit")) === 50);
    expect(await backlog()).toBe(0);
  });

  it.skipIf(!existsSync("/proc/thread-self"))(
    `runs at a lower scheduling priority than the request thread${existsSync("/proc/thread-self") ? "" : " (skipped: per-thread nice needs Linux's /proc/thread-self)"}`,
    async () => {
      const niceValues = () =>
        readdirSync("/proc/self/task").map((task) => {
          const stat = readFileSync(`/proc/self/task/${task}/stat`, "utf8");
          // Fields after the command name, which is in parentheses: nice is field 19 of stat(5).
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
        });
      expect(niceValues()).not.toContain(ANALYTICS_THREAD_NICE);
      const thread = start();
      thread.record(summary({ requestId: "n-1" }));
      await waitFor(() => requestIds().size === 1, { timeoutMs: 10_000 });
      expect(niceValues()).toContain(ANALYTICS_THREAD_NICE);
    },
  );

  it("hands exchanges over in batches, not one message per request", async () => {
    let handOvers = 0;
    const thread = start((url, options) => {
      const worker = new Worker(url, options);
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (message: { type?: string }) => {
        if (message.type === "exchanges") handOvers++;
        post(message);
      };
      return worker;
    });
    // One exchange per millisecond or so, as requests finish.
    const startedAt = performance.now();
    for (let i = 0; i < 100; i++) {
      thread.record(summary({ requestId: `h-${i}` }));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const elapsedMs = performance.now() - startedAt;
    await waitFor(() => requestIds().size === 100, { timeoutMs: 10_000 });
    // One message per 25 ms, each waking the thread once (a slow machine stretches the loop, not the rule).
    expect(handOvers).toBeLessThanOrEqual(Math.ceil(elapsedMs / 25) + 2);
    expect(handOvers).toBeLessThan(100);
  });

  it("ships what was handed over before flush() resolves", async () => {
    const thread = start();
    for (let i = 0; i < 50; i++)
      thread.record(summary({ requestId: `f-${i}` }));
    await thread.flush(5000);
    expect(requestIds().size).toBe(50);
  });
});
