// Tempo's config, read as the stack wires it: the proxy's OTLP/HTTP endpoint reaches Tempo's receiver, Grafana's
// Tempo datasource reaches its query port, storage and retention are where the volume and .env say. (The real
// binary reads it in the GitHub workflow's stack job; here no Tempo image can be pulled.)
import { describe, expect, it } from "vitest";
import { readText, readYaml } from "./repo-files.ts";

type Tree = Record<string, unknown>;
const at = (tree: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (node, key) =>
      node && typeof node === "object" ? (node as Tree)[key] : undefined,
    tree,
  );

describe("tempo/tempo.yaml", () => {
  const tempo = readYaml("tempo/tempo.yaml");
  const compose = readYaml("compose.yaml");
  const datasources = readYaml(
    "grafana/provisioning/datasources/datasources.yaml",
  );

  it("receives OTLP over HTTP on 4318, where the proxy sends its spans", () => {
    expect(
      at(tempo, "distributor", "receivers", "otlp", "protocols", "http"),
    ).toEqual({ endpoint: "0.0.0.0:4318" });
    const proxyEnv = at(compose, "services", "proxy", "environment") as Tree;
    expect(proxyEnv.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(
      "${OTEL_EXPORTER_OTLP_ENDPOINT:-http://tempo:4318}",
    );
  });

  it("serves queries on the port Grafana's Tempo datasource and the published port use", () => {
    const port = Number(at(tempo, "server", "http_listen_port"));
    expect(port).toBe(3200);
    const list = at(datasources, "datasources") as Tree[];
    const ds = list.find((d) => d.type === "tempo");
    expect(ds).toMatchObject({ uid: "tempo", url: `http://tempo:${port}` });
    expect(at(compose, "services", "tempo", "ports")).toEqual([
      `127.0.0.1:\${TEMPO_PORT:-3200}:${port}`,
    ]);
  });

  it("keeps blocks and the WAL on the tempo-data volume, for TEMPO_RETENTION", () => {
    expect(at(tempo, "storage", "trace", "backend")).toBe("local");
    for (const path of [
      at(tempo, "storage", "trace", "wal", "path"),
      at(tempo, "storage", "trace", "local", "path"),
    ])
      expect(String(path)).toMatch(/^\/var\/tempo\//);
    expect(at(compose, "services", "tempo", "volumes") as string[]).toContain(
      "tempo-data:/var/tempo",
    );
    expect(at(tempo, "compactor", "compaction", "block_retention")).toBe(
      "${TEMPO_RETENTION:-168h}",
    );
    expect(at(compose, "services", "tempo", "command")).toContain(
      "-config.expand-env=true",
    );
    expect(readText(".env.example")).toMatch(/^TEMPO_RETENTION=168h$/m);
  });

  it("links the signals: Loki's trace_id and Prometheus' exemplars open Tempo, Tempo opens the record", () => {
    const list = at(datasources, "datasources") as Tree[];
    const loki = list.find((d) => d.type === "loki");
    const prometheus = list.find((d) => d.type === "prometheus");
    const tempoDs = list.find((d) => d.type === "tempo");
    expect(at(loki, "jsonData", "derivedFields")).toEqual([
      expect.objectContaining({
        datasourceUid: "tempo",
        matcherRegex: '"trace_id":"([0-9a-f]{32})"',
      }),
    ]);
    expect(at(prometheus, "jsonData", "exemplarTraceIdDestinations")).toEqual([
      { name: "trace_id", datasourceUid: "tempo" },
    ]);
    expect(at(tempoDs, "jsonData", "tracesToLogsV2", "datasourceUid")).toBe(
      "loki",
    );
    expect(
      String(at(tempoDs, "jsonData", "tracesToLogsV2", "query")),
    ).toContain("trace_id=");
    expect(
      at(compose, "services", "prometheus", "command") as string[],
    ).toContain("--enable-feature=exemplar-storage");
  });
});
