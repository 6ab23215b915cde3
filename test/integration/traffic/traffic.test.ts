// The traffic generator against the Ollama emulator: in-process (runTraffic), through the real proxy, and as the
// CLI a user runs. The emulator answers fast so that a quick run takes about a second.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { CATEGORIES } from "@proxy/records/category-rules.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  parseTrafficArgs,
  type TrafficOptions,
} from "../../../tools/traffic/args.ts";
import { childEnv } from "../../helpers/child-env.ts";
import { TrafficSetupError, runTraffic } from "../../../tools/traffic/run.ts";
import { REQUEST_KINDS } from "../../../tools/traffic/types.ts";
import {
  createEmulator,
  type Emulator,
  type ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { freePort } from "../../helpers/free-port.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";

const MAIN = fileURLToPath(
  new URL("../../../tools/traffic/main.ts", import.meta.url),
);

const MODELS: ModelSpec[] = [
  {
    name: "llama3.2:latest",
    capabilities: ["completion", "tools"],
    tokensPerSecond: 2000,
    ttftMs: 5,
    loadMs: 0,
  },
  {
    name: "qwen3:0.6b",
    capabilities: ["completion", "tools", "thinking"],
    tokensPerSecond: 2000,
    ttftMs: 5,
    loadMs: 0,
  },
  {
    name: "all-minilm:latest",
    kind: "embedding",
    capabilities: ["embedding"],
    loadMs: 0,
  },
];

function optionsFor(url: string, argv: string[] = []): TrafficOptions {
  const parsed = parseTrafficArgs(
    ["--url", url, "--seed", "11", "--max-tokens", "16", ...argv],
    {},
    0,
  );
  if (parsed.kind !== "run") throw new Error(JSON.stringify(parsed));
  return parsed.options;
}

async function runCli(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout
    .setEncoding("utf8")
    .on("data", (text: string) => (stdout += text));
  child.stderr
    .setEncoding("utf8")
    .on("data", (text: string) => (stderr += text));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

describe("traffic against the emulator", () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await createEmulator({
      host: "127.0.0.1",
      port: 0,
      models: MODELS,
    });
  });
  afterAll(() => emulator.close());

  it("quick mode sends 30 requests of every kind, with the two injected errors and nothing else failing", async () => {
    const before = emulator.stats.requests;
    const { summary, models } = await runTraffic(optionsFor(emulator.url), {
      runId: "it",
    });

    expect(models).toEqual({
      chat: ["llama3.2:latest", "qwen3:0.6b"],
      embedding: ["all-minilm:latest"],
    });
    expect(summary).toMatchObject({
      mode: "quick",
      seed: 11,
      requests: 30,
      ok: 28,
      errors: 2,
      injectedErrors: 2,
      interrupted: 0,
      errorsByKind: { model_not_found: 1, aborted: 1 },
      sampleErrors: [],
    });
    expect(Object.keys(summary.byKind).sort()).toEqual(
      [...REQUEST_KINDS].sort(),
    );
    const perKind = Object.values(summary.byKind).reduce(
      (sum, counts) => sum + (counts?.requests ?? 0),
      0,
    );
    expect(perKind).toBe(30);
    // Everything the client measured is there: TTFT for streams, latency for all, tokens as the server counted.
    expect(summary.ttftMs?.count).toBeGreaterThanOrEqual(10);
    expect(summary.latencyMs?.count).toBe(28);
    expect(summary.outputTokens).toBeGreaterThan(0);
    expect(summary.outputTokensPerSecond?.count).toBeGreaterThan(0);
    for (const category of Object.keys(summary.byCategory))
      expect(CATEGORIES).toContain(category);
    // 30 requests plus one GET /api/tags (which carries capabilities, so no /api/show is needed).
    expect(emulator.stats.requests - before).toBe(31);
  });

  it("demo mode keeps to its rate and stops at its duration", async () => {
    const started = performance.now();
    const { summary } = await runTraffic(
      optionsFor(emulator.url, [
        "--mode",
        "demo",
        "--duration",
        "2s",
        "--rate",
        "10",
        "--no-faults",
      ]),
    );
    const elapsed = performance.now() - started;
    expect(summary.requests).toBeGreaterThanOrEqual(15);
    expect(summary.requests).toBeLessThanOrEqual(21);
    expect(summary.errors).toBe(0);
    expect(elapsed).toBeLessThan(10_000);
  });

  it("stops early on the signal and still summarises", async () => {
    const interrupt = new AbortController();
    const slow = await createEmulator({
      host: "127.0.0.1",
      port: 0,
      models: [
        {
          name: "slow:latest",
          capabilities: ["completion"],
          tokensPerSecond: 5,
          ttftMs: 50,
          loadMs: 0,
        },
      ],
    });
    try {
      setTimeout(() => interrupt.abort(), 500);
      const { summary } = await runTraffic(
        optionsFor(slow.url, ["--mode", "demo", "--rate", "20"]),
        {
          signal: interrupt.signal,
        },
      );
      expect(summary.interrupted).toBeGreaterThan(0);
      expect(summary.elapsedMs).toBeLessThan(5000);
    } finally {
      await slow.close();
    }
  });

  it("uses only the models named with --models, telling embedding models apart", async () => {
    const { summary, models } = await runTraffic(
      optionsFor(emulator.url, [
        "--models",
        "qwen3:0.6b,all-minilm:latest",
        "--requests",
        "14",
        "--no-faults",
      ]),
    );
    expect(models).toEqual({
      chat: ["qwen3:0.6b"],
      embedding: ["all-minilm:latest"],
    });
    expect(Object.keys(summary.byModel).sort()).toEqual([
      "all-minilm:latest",
      "qwen3:0.6b",
    ]);
    expect(summary.ok).toBe(14);
  });
});

describe("traffic when the server is not there", () => {
  it("fails setup with a message naming the URL", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    await expect(runTraffic(optionsFor(url))).rejects.toThrow(
      TrafficSetupError,
    );
    await expect(runTraffic(optionsFor(url))).rejects.toThrow(url);
  });

  it("counts every request as unreachable when the models are given", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const { summary } = await runTraffic(
      optionsFor(url, ["--models", "llama3.2", "--requests", "6"]),
    );
    expect(summary).toMatchObject({
      requests: 6,
      ok: 0,
      errors: 6,
      errorsByKind: { unreachable: 6 },
    });
  });
});

describe("traffic through the proxy", () => {
  let emulator: Emulator;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    emulator = await createEmulator({
      host: "127.0.0.1",
      port: 0,
      models: MODELS,
    });
    proxy = await startProxy({
      OLLAMA_URL: emulator.url,
      CLIENT_HEADER: "X-OpenWebUI-User-Name",
    });
  });
  afterAll(async () => {
    await proxy.stop("SIGKILL");
    await emulator.close();
  });

  it("gets the same outcome as directly, and each request becomes a record with its id, client and category", async () => {
    const { summary, results } = await runTraffic(
      optionsFor(proxy.url, [
        "--client-header",
        "X-OpenWebUI-User-Name=alice,bob",
      ]),
      { runId: "proxied" },
    );
    expect(summary).toMatchObject({
      requests: 30,
      ok: 28,
      errors: 2,
      injectedErrors: 2,
    });
    for (const result of results) {
      expect(result.requestId).toBe(`traffic-proxied-${result.index}`);
      const record = await proxy.recordFor(result.requestId ?? "");
      expect(["alice", "bob"]).toContain(record.client);
      expect([...CATEGORIES, "none"]).toContain(record.category);
    }
  });
});

describe("the CLI", () => {
  let emulator: Emulator;

  beforeAll(async () => {
    emulator = await createEmulator({
      host: "127.0.0.1",
      port: 0,
      models: MODELS,
    });
  });
  afterAll(() => emulator.close());

  it("prints the summary and exits 0", async () => {
    const { code, stdout, stderr } = await runCli([
      "--url",
      emulator.url,
      "--requests",
      "8",
      "--max-tokens",
      "8",
    ]);
    expect(code).toBe(0);
    expect(stdout).toContain(`Traffic summary: ${emulator.url}`);
    expect(stdout).toMatch(/requests\s+8 \(/);
    expect(stdout).toMatch(/TTFT ms \(streams\)/);
    // Not a TTY here: no progress line, only the one-line start message.
    expect(stderr).not.toContain("\r");
    expect(stderr).toContain("chat models: llama3.2:latest, qwen3:0.6b");
  });

  it("exits 1 naming the URL when the server is unreachable", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const listing = await runCli(["--url", url]);
    expect(listing.code).toBe(1);
    expect(listing.stderr).toContain(`cannot list models at ${url}`);
    const all = await runCli([
      "--url",
      url,
      "--models",
      "llama3.2",
      "--requests",
      "3",
    ]);
    expect(all.code).toBe(1);
    expect(all.stderr).toContain(`every request to ${url} failed`);
  });

  it("exits 2 on a bad option, and 0 on --help", async () => {
    expect((await runCli(["--mode", "soak"])).code).toBe(2);
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--mode quick|demo|stress");
  });
});
