// The emulator as a process: configured by EMULATOR_* variables, one log line with its URL,
// a clean exit on SIGTERM, and a fail-fast message for a bad setting.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const MAIN = fileURLToPath(
  new URL("../../fixtures/ollama-emulator/main.ts", import.meta.url),
);

let child: ChildProcess | undefined;

afterEach(() => {
  if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
  child = undefined;
});

function start(env: Record<string, string>): {
  process: ChildProcess;
  output: () => string;
  url: Promise<string>;
} {
  const proc = spawn(process.execPath, [MAIN], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = proc;
  let output = "";
  const url = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] !== undefined) resolve(match[1]);
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", onData);
    proc.on("exit", () => reject(new Error(`exited early: ${output}`)));
  });
  return { process: proc, output: () => output, url };
}

function exited(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
}

describe("main.ts", () => {
  it("serves the configured models at the configured speed and exits cleanly on SIGTERM", async () => {
    const run = start({
      EMULATOR_PORT: "0",
      EMULATOR_MODELS: "llama3.2,mistral:7b",
      EMULATOR_TOKENS_PER_SECOND: "0",
      EMULATOR_TTFT_MS: "0",
      EMULATOR_LOAD_MS: "0",
      EMULATOR_REPLY_TOKENS: "3",
    });
    const url = await run.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const tags = (await (await fetch(`${url}/api/tags`)).json()) as {
      models: { name: string }[];
    };
    expect(tags.models.map((m) => m.name)).toEqual([
      "llama3.2:latest",
      "mistral:7b",
    ]);
    const reply = (await (
      await fetch(`${url}/api/generate`, {
        method: "POST",
        body: JSON.stringify({
          model: "mistral:7b",
          prompt: "hi",
          stream: false,
        }),
      })
    ).json()) as { eval_count: number };
    expect(reply.eval_count).toBe(3);
    const exit = exited(run.process);
    run.process.kill("SIGTERM");
    expect(await exit).toBe(0);
    expect(run.output()).toContain("shutting down");
  });

  it("turns the Host check off when bound to 0.0.0.0", async () => {
    const run = start({ EMULATOR_PORT: "0", EMULATOR_HOST: "0.0.0.0" });
    const url = await run.url;
    const res = await fetch(`${url}/`, { headers: { origin: url } });
    expect(res.status).toBe(200);
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      request(
        `${url}/`,
        { headers: { host: "ollama.example.com" }, agent: false },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      )
        .on("error", reject)
        .end();
    });
    expect(status).toBe(200);
  });

  it("refuses an invalid setting with a message naming it", async () => {
    const proc = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        EMULATOR_PORT: "0",
        EMULATOR_TOKENS_PER_SECOND: "fast",
        EMULATOR_OPENAI_FORMAT: "v2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let stderr = "";
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    expect(await exited(proc)).toBe(2);
    expect(stderr).toContain("EMULATOR_TOKENS_PER_SECOND=fast");
    expect(stderr).toContain("EMULATOR_OPENAI_FORMAT=v2");
  });
});
