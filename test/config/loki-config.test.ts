// loki/loki.yaml against Loki 3.7's documented configuration. There is no loki binary here (`loki
// -verify-config` would be the real check), so the documented key tree is transcribed in
// fixtures/loki-3.7-config-keys.json: every `[key: …]` line of docs/sources/shared/configuration.md at grafana/loki
// tag v3.7.4, for the blocks this config uses (its "$source" says how it was made). A key that is not there, a
// misspelling or a key from another Loki version, fails. Then the settings the records depend on.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import {
  asDict,
  asList,
  asString,
  isDict,
  readJson,
  readText,
  readYaml,
  type Dict,
} from "./repo-files.ts";

type KeyNode =
  | true
  | "$not-encoded"
  | { $ref: string }
  | { $list: string }
  | { [key: string]: KeyNode };

const KEYS = asDict(
  readJson("test/config/fixtures/loki-3.7-config-keys.json"),
  "loki keys",
) as Record<string, KeyNode>;

/** Paths in `config` that Loki 3.7 does not document (or that the transcription does not cover). */
function unknownKeys(config: unknown, node: KeyNode, path: string): string[] {
  if (node === true) return [];
  if (node === "$not-encoded") {
    return [
      `${path}: documented, but its block is not transcribed in the fixture; copy it from the docs first`,
    ];
  }
  if ("$ref" in node && typeof node.$ref === "string")
    return unknownKeys(config, block(node.$ref), path);
  if ("$list" in node && typeof node.$list === "string") {
    const item = block(node.$list);
    return asList(config).flatMap((entry, i) =>
      unknownKeys(entry, item, `${path}[${i}]`),
    );
  }
  if (!isDict(config))
    return [
      `${path}: a block is documented here, got ${JSON.stringify(config)}`,
    ];
  const children = node as Record<string, KeyNode>;
  return Object.entries(config).flatMap(([key, value]) =>
    key in children
      ? unknownKeys(value, children[key]!, path ? `${path}.${key}` : key)
      : [`${path ? `${path}.` : ""}${key}: not a Loki 3.7 configuration key`],
  );
}

function block(name: string): KeyNode {
  const node = KEYS[name];
  if (node === undefined) throw new Error(`fixture has no block ${name}`);
  return node;
}

/** What Loki does with -config.expand-env=true: ${VAR} and ${VAR:-default}, before YAML parsing. */
function expandEnv(text: string, env: Record<string, string> = {}): string {
  return text.replace(
    /\$\{(\w+)(?::-([^}]*))?\}/g,
    (_, name: string, fallback?: string) => env[name] ?? fallback ?? "",
  );
}

const raw = readText("loki/loki.yaml");
const config = asDict(parseYaml(expandEnv(raw)), "loki.yaml");
const at = (path: string): unknown =>
  path
    .split(".")
    .reduce<unknown>(
      (node, key) => (isDict(node) ? node[key] : undefined),
      config,
    );

/** Prometheus-style duration → hours (Loki accepts h, m, s, d, w, y). */
function hours(value: unknown): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(String(value));
  if (!match) throw new Error(`not a duration: ${String(value)}`);
  const perUnit: Record<string, number> = {
    ms: 1 / 3_600_000,
    s: 1 / 3600,
    m: 1 / 60,
    h: 1,
    d: 24,
    w: 168,
    y: 8760,
  };
  return Number(match[1]) * perUnit[match[2]!]!;
}

function bytes(value: unknown): number {
  const match = /^(\d+)(B|KB|MB|GB)?$/.exec(String(value));
  if (!match) throw new Error(`not a size: ${String(value)}`);
  return (
    Number(match[1]) *
    { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[match[2] ?? "B"]!
  );
}

describe("loki/loki.yaml keys", () => {
  it("uses only keys documented for Loki 3.7", () => {
    expect(unknownKeys(config, block("ROOT"), "")).toEqual([]);
  });

  it("the check rejects what Loki would reject (the check itself works)", () => {
    const bad = {
      limits_config: { max_line_size: "1MB", ingestion_rate_mbs: 4 },
      server: { port: 1 },
    };
    expect(unknownKeys(bad, block("ROOT"), "")).toEqual([
      "limits_config.ingestion_rate_mbs: not a Loki 3.7 configuration key",
      "server.port: not a Loki 3.7 configuration key",
    ]);
    expect(unknownKeys({ ruler: {} }, block("ROOT"), "")[0]).toMatch(
      /not transcribed/,
    );
  });
});

describe("loki/loki.yaml settings", () => {
  it("runs as a single binary on the filesystem, tsdb index with schema v13 and daily index tables", () => {
    expect(at("auth_enabled")).toBe(false);
    expect(at("common.replication_factor")).toBe(1);
    expect(at("common.ring.kvstore.store")).toBe("inmemory");
    const periods = asList(at("schema_config.configs")).filter(isDict);
    const latest = periods.at(-1) as Dict;
    expect(latest).toMatchObject({
      store: "tsdb",
      object_store: "filesystem",
      schema: "v13",
    });
    expect(asDict(latest.index, "index").period).toBe("24h");
  });

  it("deletes old data: compactor retention with a delete request store, LOKI_RETENTION defaulting to 30 days", () => {
    expect(at("compactor.retention_enabled")).toBe(true);
    expect(at("compactor.delete_request_store")).toBe("filesystem");
    expect(raw).toMatch(/retention_period: \$\{LOKI_RETENTION:-720h\}/);
    expect(hours(at("limits_config.retention_period"))).toBe(720);
    expect(
      asDict(parseYaml(expandEnv(raw, { LOKI_RETENTION: "2160h" })), "x"),
    ).toMatchObject({
      limits_config: { retention_period: "2160h" },
    });
  });

  it("accepts the records: whole JSON lines, structured metadata, a burst after an outage", () => {
    expect(bytes(at("limits_config.max_line_size"))).toBeGreaterThanOrEqual(
      256 * 1024,
    );
    expect(at("limits_config.max_line_size_truncate")).toBe(false);
    expect(at("limits_config.allow_structured_metadata")).toBe(true);
    expect(
      Number(at("limits_config.ingestion_rate_mb")),
    ).toBeGreaterThanOrEqual(8);
    expect(Number(at("limits_config.ingestion_burst_size_mb"))).toBeGreaterThan(
      Number(at("limits_config.ingestion_rate_mb")),
    );
    expect(
      bytes(at("limits_config.per_stream_rate_limit")),
    ).toBeGreaterThanOrEqual(8 * 1024 ** 2);
  });

  it("takes records delivered up to a week late, and older entries behind newer ones", () => {
    expect(at("limits_config.reject_old_samples")).toBe(true);
    expect(
      hours(at("limits_config.reject_old_samples_max_age")),
    ).toBeGreaterThan(7 * 24);
    expect(at("limits_config.shard_streams.time_sharding_enabled")).toBe(true);
    expect(hours(at("ingester.max_chunk_age"))).toBeGreaterThanOrEqual(2);
  });

  it("allows analytics-sized queries", () => {
    expect(Number(at("limits_config.max_query_series"))).toBeGreaterThan(500);
    expect(hours(at("limits_config.query_timeout"))).toBeGreaterThanOrEqual(
      1 / 60,
    );
  });

  it("every ${VAR} has a default and is passed to the loki service, which expands it", () => {
    const code = raw.replace(/^\s*#.*$/gm, "");
    const vars = [...code.matchAll(/\$\{(\w+)(:-[^}]*)?\}/g)];
    expect(vars.length).toBeGreaterThan(0);
    const compose = asDict(readYaml("compose.yaml"), "compose.yaml");
    const lokiService = asDict(
      asDict(compose.services, "services").loki,
      "loki",
    );
    const env = asDict(lokiService.environment, "loki environment");
    for (const [, name, fallback] of vars) {
      expect(fallback, `\${${name}} needs a default`).toBeTruthy();
      expect(env, `compose.yaml loki.environment.${name}`).toHaveProperty(
        name!,
      );
    }
    expect(asList(lokiService.command).map((c) => asString(c))).toContain(
      "-config.expand-env=true",
    );
  });
});
