import { describe, expect, it } from "vitest";
import { loadConfig, loadSettings } from "@proxy/config.ts";
import { ConfigError } from "@proxy/settings.ts";
import { configProblems } from "../helpers/config-problems.ts";

const problems = configProblems;

describe("loadConfig", () => {
  it("has the documented defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 11434,
      host: "127.0.0.1",
      allowedHosts: [],
      analyticsToken: undefined,
      backends: [
        {
          name: "default",
          url: "http://127.0.0.1:11435",
          weight: 1,
          maxConcurrent: undefined,
        },
      ],
      metricsPort: undefined,
      logLevel: "info",
      upstreamTimeoutMs: 0,
      shutdownGraceMs: 30_000,
      pollIntervalMs: 15_000,
      injectStreamUsage: true,
      capture: { prompts: "truncate", responses: "truncate", maxChars: 8192 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.capture)).toBe(true);
  });

  it("keeps the base path of OLLAMA_URL and drops a trailing slash", () => {
    expect(
      loadConfig({ OLLAMA_URL: "https://gpu-box.internal/ollama/" }).backends,
    ).toEqual([
      {
        name: "default",
        url: "https://gpu-box.internal/ollama",
        weight: 1,
        maxConcurrent: undefined,
      },
    ]);
  });

  it("does not read OLLAMA_HOST", () => {
    expect(loadConfig({ OLLAMA_HOST: "0.0.0.0:9999" }).backends[0]?.url).toBe(
      "http://127.0.0.1:11435",
    );
  });

  it("treats empty values as unset, as compose passes them", () => {
    expect(
      loadConfig({ METRICS_PORT: "", LOKI_URL: " " }).metricsPort,
    ).toBeUndefined();
  });

  it.each([
    ["PROXY_PORT", "99999", "integer port 1-65535"],
    ["PROXY_PORT", "abc", "integer port 1-65535"],
    ["METRICS_PORT", "0", "integer port 1-65535"],
    ["OLLAMA_URL", "not a url", "http(s) URL"],
    ["OLLAMA_URL", "ftp://x", "http(s) URL"],
    ["UPSTREAM_TIMEOUT_MS", "-5", "non-negative integer"],
    ["SHUTDOWN_GRACE_MS", "1.5", "non-negative integer"],
    ["LOG_LEVEL", "loud", "one of fatal, error, warn, info"],
    ["INJECT_STREAM_USAGE", "maybe", "true or false"],
    ["CAPTURE_PROMPTS", "some", "full, truncate or none"],
    ["REDIS_URL", "http://x", "redis://"],
    ["REDACT_PATTERNS", '{"bad":"("}', "not a valid regex"],
    ["TRUSTED_PROXIES", "not-an-ip", "addresses, CIDRs"],
    [
      "ALLOWED_HOSTS",
      "http://gpu-box:11434",
      "host names, *.suffixes, IPs or *",
    ],
    ["ALLOWED_HOSTS", "ok.lan,bad name", "not bad name"],
  ])(
    "rejects %s=%s naming the variable, the value and what is expected",
    (key, value, expected) => {
      const found = problems({ [key]: value });
      expect(found).toHaveLength(1);
      expect(found[0]).toContain(`${key}=${JSON.stringify(value)}`);
      expect(found[0]).toContain(expected);
    },
  );

  it("never shows a secret's value in the message", () => {
    expect(problems({ ANALYTICS_TOKEN: "short-secret" })).toEqual([
      "ANALYTICS_TOKEN=***: expected at least 16 characters (make up generates one)",
    ]);
  });

  it("reports the proxy's and access control's bad variables together", () => {
    let caught: unknown;
    try {
      loadSettings({ PROXY_PORT: "0", MAX_CONCURRENT: "-1" });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(
      (caught as ConfigError).problems.map((p) => p.split("=")[0]),
    ).toEqual(["PROXY_PORT", "MAX_CONCURRENT"]);
  });

  it("lists every bad variable at once", () => {
    expect(
      problems({ PROXY_PORT: "0", LOG_LEVEL: "x", OLLAMA_URL: "nope" }),
    ).toHaveLength(3);
  });

  it("refuses METRICS_PORT equal to PROXY_PORT", () => {
    expect(problems({ PROXY_PORT: "8080", METRICS_PORT: "8080" })[0]).toContain(
      "METRICS_PORT",
    );
  });

  it("parses booleans as words, not truthiness", () => {
    expect(loadConfig({ INJECT_STREAM_USAGE: "false" }).injectStreamUsage).toBe(
      false,
    );
    expect(loadConfig({ INJECT_STREAM_USAGE: "true" }).injectStreamUsage).toBe(
      true,
    );
  });

  it("builds Loki headers from tenant and basic auth settings without echoing the password", () => {
    const config = loadConfig({
      LOKI_TENANT_ID: "team-a",
      LOKI_USERNAME: "u",
      LOKI_PASSWORD: "p",
    });
    expect(config.loki.headers).toEqual({
      "X-Scope-OrgID": "team-a",
      Authorization: `Basic ${Buffer.from("u:p").toString("base64")}`,
    });
  });

  it("lower-cases CLIENT_HEADER and splits TRUSTED_PROXIES", () => {
    const config = loadConfig({
      CLIENT_HEADER: "X-OpenWebUI-User-Name",
      TRUSTED_PROXIES: "loopback, 10.0.0.0/8",
    });
    expect(config.clientHeader).toBe("x-openwebui-user-name");
    expect(config.trustedProxies).toEqual(["loopback", "10.0.0.0/8"]);
  });
});
