import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ACCESS_ENV_VARS,
  loadAccessConfig,
} from "@proxy/access/access-config.ts";
import { hashKey } from "@proxy/access/keys.ts";
import { configProblems } from "../../helpers/config-problems.ts";

const problems = (env: Record<string, string>) =>
  configProblems(env, loadAccessConfig);

describe("loadAccessConfig", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "access-config-"));
    await writeFile(
      join(dir, "keys.yaml"),
      `keys:\n  - name: web\n    hash: ${hashKey("s")}\n`,
    );
    await writeFile(
      join(dir, "bad-keys.yaml"),
      `keys:\n  - name: web\n    hash: ${hashKey("s")}x\n`,
    );
    await writeFile(join(dir, "aliases.yaml"), "gpt-4o: llama3.1:8b\n");
    await writeFile(
      join(dir, "pricing.yaml"),
      "models:\n  gpt-4o: { input: 2.5, output: 10 }\n",
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("has the documented defaults: keys off, seed concurrency 50, open on Redis errors", () => {
    const config = loadAccessConfig({});
    expect(config).toMatchObject({
      keysFile: undefined,
      keys: [],
      adminRoutesOpen: false,
      metricsClientLabel: false,
      defaultLimits: { requestsPerMinute: 0, tokensPerDay: 0, concurrent: 0 },
      maxConcurrent: 50,
      queueMax: 500,
      queueTimeoutMs: 30_000,
      leaseTtlMs: 30_000,
      redisTimeoutMs: 250,
      onRedisError: "open",
      aliasesFile: undefined,
      pricingFile: undefined,
      pricing: undefined,
    });
    expect(config.aliases.size).toBe(0);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads the files it names", () => {
    const config = loadAccessConfig({
      API_KEYS_FILE: join(dir, "keys.yaml"),
      MODEL_ALIASES: join(dir, "aliases.yaml"),
      PRICING_FILE: join(dir, "pricing.yaml"),
      LIMIT_REQUESTS_PER_MINUTE: "60",
      LIMITS_ON_REDIS_ERROR: "closed",
      ADMIN_ROUTES_OPEN: "true",
      METRICS_CLIENT_LABEL: "1",
    });
    expect(config.keys.map((key) => key.name)).toEqual(["web"]);
    expect(config.aliasesFile).toBe(join(dir, "aliases.yaml"));
    expect(config.aliases.get("gpt-4o:latest")).toBe("llama3.1:8b");
    expect(config.pricing?.entries).toHaveLength(1);
    expect(config.defaultLimits.requestsPerMinute).toBe(60);
    expect(config.onRedisError).toBe("closed");
    expect(config.adminRoutesOpen).toBe(true);
    expect(config.metricsClientLabel).toBe(true);
  });

  it("takes inline aliases when the value contains =", () => {
    const config = loadAccessConfig({ MODEL_ALIASES: "gpt-4o=llama3.1:8b" });
    expect(config.aliasesFile).toBeUndefined();
    expect(config.aliases.get("gpt-4o:latest")).toBe("llama3.1:8b");
  });

  it("treats empty values as unset", () => {
    expect(
      loadAccessConfig({ API_KEYS_FILE: " ", MAX_CONCURRENT: "" })
        .maxConcurrent,
    ).toBe(50);
  });

  it.each([
    [
      "ADMIN_ROUTES_OPEN",
      "yes please",
      'ADMIN_ROUTES_OPEN="yes please": expected ADMIN_ROUTES_OPEN: true or false',
    ],
    ["METRICS_CLIENT_LABEL", "maybe", "true or false"],
    [
      "LIMIT_REQUESTS_PER_MINUTE",
      "-1",
      'LIMIT_REQUESTS_PER_MINUTE="-1": expected requests (0 = unlimited): a non-negative integer',
    ],
    ["LIMIT_TOKENS_PER_DAY", "1e3.5", "non-negative integer"],
    ["LIMIT_CONCURRENT", "two", "non-negative integer"],
    ["MAX_CONCURRENT", "1.5", "non-negative integer"],
    ["QUEUE_MAX", "-3", "non-negative integer"],
    [
      "QUEUE_TIMEOUT_MS",
      "0",
      'QUEUE_TIMEOUT_MS="0": expected milliseconds: an integer >= 1',
    ],
    ["LIMITS_LEASE_TTL_MS", "50", "an integer >= 100"],
    ["LIMITS_REDIS_TIMEOUT_MS", "x", "an integer >= 1"],
    [
      "LIMITS_ON_REDIS_ERROR",
      "fail",
      'LIMITS_ON_REDIS_ERROR="fail": expected open or closed',
    ],
    ["MODEL_ALIASES", 'gpt"4o=llama3', "MODEL_ALIASES="],
    [
      "MODEL_ALIASES",
      "/nonexistent/aliases.yaml",
      "cannot read the file (ENOENT)",
    ],
    [
      "API_KEYS_FILE",
      "/nonexistent/keys.yaml",
      'API_KEYS_FILE="/nonexistent/keys.yaml": cannot read the file (ENOENT)',
    ],
    ["PRICING_FILE", "/nonexistent/pricing.yaml", "PRICING_FILE="],
  ])("%s=%j → %s", (name, value, message) => {
    const found = problems({ [name]: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
    expect(found[0]!.startsWith(`${name}=${JSON.stringify(value)}: `)).toBe(
      true,
    );
  });

  it("lists every bad variable, one line each", () => {
    expect(
      problems({
        QUEUE_MAX: "x",
        LIMIT_CONCURRENT: "-1",
        LIMITS_ON_REDIS_ERROR: "?",
      }),
    ).toHaveLength(3);
  });

  it("reports a bad keys file on one line without echoing its hashes", () => {
    const found = problems({ API_KEYS_FILE: join(dir, "bad-keys.yaml") });
    expect(found).toHaveLength(1);
    expect(found[0]).toContain("keys[0] (web).hash");
    expect(found[0]).not.toContain(hashKey("s").slice(7, 30));
  });

  it("exports the variable names for the README table", () => {
    expect(ACCESS_ENV_VARS).toContain("API_KEYS_FILE");
    expect(ACCESS_ENV_VARS).toContain("LIMITS_ON_REDIS_ERROR");
    expect(ACCESS_ENV_VARS).toHaveLength(14);
  });
});
