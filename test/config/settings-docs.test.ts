// Every setting the proxy reads is documented where users look: the README's tables and .env.example.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ACCESS_ENV_VARS } from "@proxy/access/access-config.ts";
import { CONFIG_ENV_VARS } from "@proxy/config.ts";
import { TRACING_ENV_VARS } from "@proxy/tracing/settings.ts";

const root = new URL("../../", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");
const envExample = readFileSync(new URL(".env.example", root), "utf8");
const compose = readFileSync(new URL("compose.yaml", root), "utf8");

/** Variables named in the first column of a README table row: | `NAME` | or | `A`, `B` |. */
function readmeTableVars(): Set<string> {
  const names = new Set<string>();
  for (const line of readme.split("\n")) {
    const first = /^\|([^|]+)\|/.exec(line)?.[1] ?? "";
    for (const match of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g))
      names.add(match[1]!);
  }
  return names;
}

const SETTINGS = [...CONFIG_ENV_VARS, ...ACCESS_ENV_VARS, ...TRACING_ENV_VARS];

describe("settings documentation", () => {
  it.each(SETTINGS)("%s is in a README table", (name) => {
    expect(readmeTableVars().has(name)).toBe(true);
  });

  it.each(
    SETTINGS.filter(
      (name) =>
        ![
          "PROXY_PORT",
          "PROXY_HOST",
          "OLLAMA_URL",
          "METRICS_PORT",
          "REDIS_URL",
          "LOKI_URL",
          "ANALYTICS_CONSUMER",
        ].includes(name),
    ),
  )("%s is in .env.example and passed to the proxy container", (name) => {
    expect(envExample).toMatch(new RegExp(`^#? ?${name}=`, "m"));
    expect(compose).toMatch(new RegExp(`^\\s+${name}:`, "m"));
  });
});

describe("metrics documentation", () => {
  const definitions = readFileSync(
    new URL("proxy/src/metrics/definitions.ts", root),
    "utf8",
  );
  const names = [...definitions.matchAll(/name: "([a-z_]+)"/g)].map(
    (match) => match[1]!,
  );

  it("reads the metric names from definitions.ts", () => {
    expect(names.length).toBeGreaterThan(25);
  });

  it.each(names)("%s is in the README's metric table", (name) => {
    expect(readme).toMatch(new RegExp(`^\\|[^|]*\`${name}\``, "m"));
  });
});
