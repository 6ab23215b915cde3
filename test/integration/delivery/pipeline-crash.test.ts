// A proxy process SIGKILLed during a Loki outage loses nothing that reached Redis: a new pipeline claims the dead
// consumer's pending entries and reads the rest.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import {
  createAnalyticsPipeline,
  type AnalyticsPipeline,
} from "@proxy/delivery/pipeline.ts";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import {
  startRedisServer,
  type RedisServer,
} from "../../helpers/redis-server.ts";
import { waitFor } from "../../helpers/wait-for.ts";
import {
  arrivals,
  logger,
  missing,
  pipelineOptions,
  testMetrics,
} from "./support.ts";

const childScript = fileURLToPath(
  new URL("./pipeline-child.ts", import.meta.url),
);

let redis: RedisServer;
let client: Redis;
let loki: FakeLoki;
let child: ChildProcess | undefined;
let survivor: AnalyticsPipeline | undefined;

beforeEach(async () => {
  redis = await startRedisServer();
  client = new Redis(redis.url);
  loki = await createFakeLoki();
});

afterEach(async () => {
  if (
    child !== undefined &&
    child.exitCode === null &&
    child.signalCode === null
  ) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  child = undefined;
  await survivor?.close();
  survivor = undefined;
  await client.quit();
  await loki.close();
  await redis.close();
});

it("a proxy SIGKILLed during a Loki outage loses nothing that reached Redis", async () => {
  const options = pipelineOptions({
    redisUrl: redis.url,
    lokiUrl: loki.url,
    claimIdleMs: 500,
  });
  await loki.fail("down");

  const proc = spawn(process.execPath, [childScript], {
    env: {
      ...process.env,
      REDIS_URL: redis.url,
      LOKI_URL: loki.url,
      STREAM_KEY: options.streamKey,
      CONSUMER_NAME: "doomed-replica",
      PREFIX: "crash",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  child = proc;
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.once("data", () => resolve());
    proc.once("exit", (code) =>
      reject(new Error(`child exited early (${code})`)),
    );
  });

  // Let it write records and take a batch it cannot ship.
  await waitFor(async () => (await client.xlen(options.streamKey)) > 500, {
    timeoutMs: 10_000,
  });
  await waitFor(
    async () =>
      Number((await client.xpending(options.streamKey, "shipper"))[0]) > 0,
  );
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  proc.kill("SIGKILL");
  await exited;

  // What reached Redis is what must arrive; the killed process's unwritten buffer is lost by definition.
  const inRedis = (
    (await client.xrange(options.streamKey, "-", "+")) as Array<
      [string, string[]]
    >
  ).map(([, fields]) => fields[fields.indexOf("request_id") + 1] as string);
  expect(inRedis.length).toBeGreaterThan(500);

  await loki.setMode({ kind: "ok" });
  survivor = createAnalyticsPipeline(
    { ...options, consumerName: "survivor" },
    { metrics: testMetrics(), logger },
  );
  await waitFor(() => missing(loki, inRedis).length === 0, {
    timeoutMs: 15_000,
    message: "records the killed process left in Redis",
  });
  // Nothing was acknowledged by Loki before the kill, so nothing arrives twice.
  expect([...arrivals(loki).values()].every((n) => n === 1)).toBe(true);
  await waitFor(async () => (await client.xlen(options.streamKey)) === 0);
});
