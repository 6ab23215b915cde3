// The proxy as a user starts it: bad settings stop it at once with a message naming the setting.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { childEnv } from "../../helpers/child-env.ts";

const MAIN = fileURLToPath(
  new URL("../../../proxy/src/main.ts", import.meta.url),
);

function run(env: Record<string, string>) {
  return spawnSync(process.execPath, [MAIN], {
    env: childEnv(env),
    encoding: "utf8",
    timeout: 10_000,
  });
}

describe("misconfiguration", () => {
  it.each([
    [{ PROXY_PORT: "70000" }, "PROXY_PORT"],
    [{ OLLAMA_URL: "localhost:11434" }, "OLLAMA_URL"],
    [{ UPSTREAM_TIMEOUT_MS: "-1" }, "UPSTREAM_TIMEOUT_MS"],
    [{ LOG_LEVEL: "verbose" }, "LOG_LEVEL"],
    [{ TRUSTED_PROXIES: "not-an-ip" }, "TRUSTED_PROXIES"],
    [{ OLLAMA_BACKENDS: "gpu1=ftp://gpu1.lan" }, "OLLAMA_BACKENDS"],
    [{ BACKEND_AFFINITY: "sometimes" }, "BACKEND_AFFINITY"],
  ])("exits 2 with one line naming the variable (%j)", (env, name) => {
    const result = run(env);
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(`^ollama-proxy: invalid setting ${name}=`),
    );
    expect(result.stdout).toBe("");
  });

  it("names each bad OLLAMA_BACKENDS entry", () => {
    const result = run({
      OLLAMA_BACKENDS: "a=http://a:1,a=http://b:1,c=gopher://c",
    });
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toEqual([
      expect.stringContaining(
        'entry "a=http://b:1": the name "a" is used twice',
      ) as unknown,
      expect.stringContaining(
        'entry "c=gopher://c": "gopher://c" is not an http(s) URL',
      ) as unknown,
    ]);
  });

  it("names the port when it is already taken", async () => {
    const { createServer } = await import("node:net");
    const blocker = createServer();
    await new Promise<void>((resolve) =>
      blocker.listen(0, "127.0.0.1", resolve),
    );
    const address = blocker.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const result = run({ PROXY_PORT: String(port), PROXY_HOST: "127.0.0.1" });
    blocker.close();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("EADDRINUSE");
    expect(result.stderr).toContain("PROXY_PORT");
  });
});
