// Tracing off (the default) loads none of OpenTelemetry's packages on either thread: they cost ~8 MB of RSS per
// thread and ~90 ms of start-up. Tracing on loads them on both, which shows the preload sees the analytics thread.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFakeLoki, type FakeLoki } from "../../fixtures/fake-loki.ts";
import { startFakeOtlp, type FakeOtlp } from "../../fixtures/fake-otlp.ts";
import {
  createEmulator,
  type Emulator,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startProxy } from "../../helpers/proxy-process.ts";
import { waitFor } from "../../helpers/wait-for.ts";

const PRELOAD = fileURLToPath(
  new URL("../../fixtures/package-loads.ts", import.meta.url),
);

/** Packages resolved by each thread (0 = the request thread) of a proxy started with `env`, once it serves. */
async function packagesLoaded(
  env: Record<string, string>,
): Promise<Map<number, Set<string>>> {
  const file = join(directory, `loads-${Math.random().toString(36).slice(2)}`);
  const proxy = await startProxy({
    ...env,
    OLLAMA_URL: emulator.url,
    LOKI_URL: loki.url,
    PACKAGE_LOADS_FILE: file,
    NODE_OPTIONS: `--import=${PRELOAD}`,
  });
  try {
    // A request through both threads: the analytics thread has started once its record reaches Loki.
    const response = await fetch(`${proxy.url}/api/tags`);
    await response.text();
    const requestId = response.headers.get("x-request-id");
    await waitFor(
      () => loki.entries().some((entry) => entry.line.includes(requestId!)),
      { timeoutMs: 10_000, message: "record never reached Loki" },
    );
  } finally {
    await proxy.stop();
  }
  const byThread = new Map<number, Set<string>>();
  for (const line of (await readFile(file, "utf8")).split("\n")) {
    const [thread, name] = line.split(" ");
    if (name === undefined) continue;
    const names = byThread.get(Number(thread)) ?? new Set<string>();
    names.add(name);
    byThread.set(Number(thread), names);
  }
  return byThread;
}

/** OpenTelemetry's packages among `names`, but its API: prom-client loads that one itself (process CPU metric). */
const openTelemetry = (names: Set<string> | undefined) =>
  [...(names ?? [])].filter(
    (name) =>
      name.startsWith("@opentelemetry/") && name !== "@opentelemetry/api",
  );

let directory: string;
let emulator: Emulator;
let loki: FakeLoki;
let otlp: FakeOtlp;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "package-loads-"));
  emulator = await createEmulator({ port: 0 });
  loki = await createFakeLoki();
  otlp = await startFakeOtlp();
});
afterAll(async () => {
  await otlp?.close();
  await loki?.close();
  await emulator?.close();
  await rm(directory, { recursive: true, force: true });
});

describe("OpenTelemetry's packages", () => {
  it("are not loaded by either thread when tracing is off", async () => {
    const loaded = await packagesLoaded({});
    // Both threads were seen, and each loads prom-client (each has a metrics registry of its own).
    expect(loaded.size).toBe(2);
    for (const names of loaded.values()) {
      expect(names.has("prom-client")).toBe(true);
      expect(openTelemetry(names)).toEqual([]);
    }
  });

  it("are loaded by both threads when an OTLP endpoint is set", async () => {
    const loaded = await packagesLoaded({
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    });
    expect(loaded.size).toBe(2);
    for (const names of loaded.values())
      expect(openTelemetry(names)).toContain("@opentelemetry/sdk-trace");
  });
});
