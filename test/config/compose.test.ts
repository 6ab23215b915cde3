// compose.yaml and its overrides. Two layers:
// 1. `docker compose config` (Compose v2, which works without a Docker engine) on compose.yaml alone, with the
//    GPU variant and with the stack-test override. Compose v2 is not in Debian bookworm: when `docker compose
//    version` fails, scripts/install-compose.sh installs the plugin (and the docker CLI) from Debian packages;
//    if that is impossible the tests are skipped, by name, with the reason.
// 2. A compose-spec sanity check in TypeScript, no Docker needed: images pinned, healthchecks, restart policy,
//    named volumes declared, bind mounts present, only 11434 and 3000 published beyond loopback, depends_on on
//    healthy services, every setting documented in .env.example, scrape targets matching the services.
import { describe, expect, it } from "vitest";
import {
  asDict,
  asList,
  asString,
  isDict,
  readText,
  readYaml,
  repoPath,
  run,
  which,
  type Dict,
} from "./repo-files.ts";
import { existsSync } from "node:fs";

// ------------------------------------------------------------------------------------ docker compose CLI

function composeAvailable(): { ok: boolean; reason: string } {
  const probe = () =>
    which("docker") !== undefined &&
    run("docker", ["compose", "version"]).status === 0;
  if (probe()) return { ok: true, reason: "" };
  if (process.env.OLLAMA_OBS_NO_INSTALL === "1") {
    return {
      ok: false,
      reason: "docker compose missing and OLLAMA_OBS_NO_INSTALL=1",
    };
  }
  const install = run("bash", ["scripts/install-compose.sh"], {
    timeoutMs: 240_000,
  });
  if (install.status === 0 && probe()) return { ok: true, reason: "" };
  const why = install.output.trim().split("\n").at(-1) ?? "";
  return {
    ok: false,
    reason: `docker compose missing and scripts/install-compose.sh failed: ${why}`,
  };
}

const compose = composeAvailable();
const skipped = compose.ok ? "" : ` (skipped: ${compose.reason})`;

/** What `make up` generates into .env (.env.example leaves both empty on purpose). */
const GENERATED = {
  GRAFANA_ADMIN_PASSWORD: "generated-for-the-test",
  ANALYTICS_TOKEN: "generated-for-the-test-0123",
};

/**
 * `docker compose … config` with the documented defaults (.env.example) instead of a developer's .env, and
 * `settings` on top (the generated secrets unless told otherwise).
 */
function composeConfig(
  files: string[],
  extra: string[],
  settings: Record<string, string> = GENERATED,
): { status: number; output: string } {
  const args = [
    "compose",
    "--env-file",
    ".env.example",
    ...files.flatMap((f) => ["-f", f]),
    "config",
    ...extra,
  ];
  const env = { ...process.env };
  delete env.GRAFANA_ADMIN_PASSWORD;
  delete env.ANALYTICS_TOKEN;
  delete env.PUBLISH_ADDRESS;
  return run("docker", args, { env: { ...env, ...settings } });
}

/** Every published port as `service → host_ip:target`. */
function publishedPorts(
  files: string[],
  settings: Record<string, string> = GENERATED,
): string[] {
  const { status, output } = composeConfig(
    files,
    ["--format", "json"],
    settings,
  );
  expect(status, output).toBe(0);
  const services = asDict(
    asDict(JSON.parse(output) as unknown, "config").services,
    "services",
  );
  return Object.entries(services).flatMap(([name, service]) =>
    asList(asDict(service, name).ports)
      .filter(isDict)
      .map(
        (port) =>
          `${name} → ${asString(port.host_ip) ?? ""}:${String(port.target)}`,
      ),
  );
}

const VARIANTS: [string, string[]][] = [
  ["compose.yaml", ["compose.yaml"]],
  ["compose.yaml + compose.gpu.yaml", ["compose.yaml", "compose.gpu.yaml"]],
  ["compose.yaml + compose.test.yaml", ["compose.yaml", "compose.test.yaml"]],
  [
    "compose.yaml + compose.backends.yaml",
    ["compose.yaml", "compose.backends.yaml"],
  ],
];

describe.skipIf(!compose.ok)(`docker compose config${skipped}`, () => {
  it.each(VARIANTS)("%s is valid (config -q)", (_, files) => {
    const { status, output } = composeConfig(files, ["-q"]);
    expect(status, output).toBe(0);
  });

  it.each(VARIANTS)(
    "%s publishes every port on 127.0.0.1 with the documented defaults",
    (_, files) => {
      const ports = publishedPorts(files);
      expect(ports.length).toBeGreaterThan(0);
      for (const port of ports) expect(port).toMatch(/ → 127\.0\.0\.1:\d+$/);
    },
  );

  it("refuses to start Grafana without a generated admin password: admin/admin never works", () => {
    const { status, output } = composeConfig(["compose.yaml"], ["-q"], {});
    expect(status).not.toBe(0);
    expect(output).toMatch(/GRAFANA_ADMIN_PASSWORD.*is not set - run make up/);
  });

  it.each([
    ...VARIANTS.filter(([name]) => !name.includes("compose.test.yaml")).map(
      ([name, files]) =>
        [
          name,
          files,
          ["grafana → 0.0.0.0:3000", "proxy → 0.0.0.0:11434"],
        ] as const,
    ),
    // The stack tier pins its ports to loopback whatever .env says.
    [
      "compose.yaml + compose.test.yaml",
      ["compose.yaml", "compose.test.yaml"],
      [],
    ] as const,
  ])(
    "%s with PUBLISH_ADDRESS=0.0.0.0 publishes only 11434 and 3000 beyond loopback",
    (_, files, expected) => {
      const ports = publishedPorts([...files], {
        ...GENERATED,
        PUBLISH_ADDRESS: "0.0.0.0",
      });
      const beyond = ports.filter((port) => !port.includes(" → 127.0.0.1:"));
      expect(beyond.sort()).toEqual(expected);
    },
  );

  it("the backends overlay runs a second Ollama with its own models and hands both to the proxy", () => {
    const { output } = composeConfig(
      ["compose.yaml", "compose.backends.yaml"],
      ["--format", "json"],
    );
    const services = asDict(
      asDict(JSON.parse(output) as unknown, "config").services,
      "services",
    );
    const first = asDict(services.ollama, "ollama");
    const second = asDict(services["ollama-2"], "ollama-2");
    expect(second.image).toBe(first.image);
    expect(second.ports).toBeUndefined();
    expect(JSON.stringify(second.volumes)).toMatch(
      /"source":"ollama-2-models"/,
    );
    expect(JSON.stringify(first.volumes)).not.toMatch(/ollama-2-models/);
    const proxy = asDict(services.proxy, "proxy");
    expect(asDict(proxy.environment, "environment").OLLAMA_BACKENDS).toBe(
      "ollama=http://ollama:11434,ollama-2=http://ollama-2:11434",
    );
    expect(asDict(proxy.depends_on, "depends_on")["ollama-2"]).toMatchObject({
      condition: "service_healthy",
    });
  });

  it("the GPU variant reserves NVIDIA GPUs for Ollama and adds a healthy-checked GPU exporter Prometheus scrapes", () => {
    const { output } = composeConfig(
      ["compose.yaml", "compose.gpu.yaml"],
      ["--format", "json"],
    );
    const services = asDict(
      asDict(JSON.parse(output) as unknown, "config").services,
      "services",
    );
    expect(JSON.stringify(asDict(services.ollama, "ollama").deploy)).toMatch(
      /"driver":"nvidia"/,
    );
    expect(
      asDict(services["gpu-exporter"], "gpu-exporter").healthcheck,
    ).toBeDefined();
    const mounts = asList(
      asDict(services.prometheus, "prometheus").volumes,
    ).filter(isDict);
    expect(mounts.map((m) => asString(m.target))).toContain(
      "/etc/prometheus/targets/gpu.yaml",
    );
  });
});

describe("scripts/install-compose.sh", () => {
  it("--dry-run changes nothing and says what it would do", () => {
    const { status, output } = run("bash", [
      "scripts/install-compose.sh",
      "--dry-run",
    ]);
    expect(status, output).toBe(0);
    expect(output).toMatch(/already available|docker-compose\/trixie/);
  });

  it("rejects unknown arguments", () => {
    expect(run("bash", ["scripts/install-compose.sh", "--nope"]).status).toBe(
      2,
    );
  });
});

// ---------------------------------------------------------------------------------- spec sanity (no CLI)

/** Compose interpolation with the defaults: ${VAR:-default} → default, ${VAR} → "", $$ → $. */
function withDefaults(value: string): string {
  return value
    .replace(
      /\$\{(\w+)(?::?-([^}]*))?\}/g,
      (_, _name: string, fallback?: string) => fallback ?? "",
    )
    .replace(/\$\$/g, "$");
}

const base = asDict(readYaml("compose.yaml"), "compose.yaml");
const gpu = asDict(readYaml("compose.gpu.yaml"), "compose.gpu.yaml");
const services = asDict(base.services, "services");
const allServices: [string, Dict][] = [
  ...Object.entries(services).map(
    ([n, s]) => [n, asDict(s, n)] as [string, Dict],
  ),
  ...Object.entries(asDict(gpu.services, "gpu services"))
    .filter(([n]) => !(n in services))
    .map(([n, s]) => [n, asDict(s, n)] as [string, Dict]),
];

/** Services whose image has no way to check its health from inside, and why; a check there could only fail. */
const WITHOUT_HEALTHCHECK: Record<string, string> = {
  tempo:
    "grafana/tempo is distroless since 2.10 (no shell, no wget) and Tempo has no health subcommand",
};

describe("compose.yaml", () => {
  it("has the stack's services", () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        "grafana",
        "loki",
        "node-exporter",
        "ollama",
        "prometheus",
        "proxy",
        "redis",
        "tempo",
      ].sort(),
    );
  });

  it.each(allServices)(
    "%s: pinned image or build, healthcheck, restart unless-stopped",
    (name, service) => {
      expect(
        service.image ?? service.build,
        `${name}: image or build`,
      ).toBeDefined();
      if (typeof service.image === "string") {
        const image = withDefaults(service.image);
        const tag = /:([^:/]+)$/.exec(image)?.[1];
        expect(tag, `${name}: ${image} has a tag`).toBeDefined();
        expect(tag, `${name}: ${image}`).not.toBe("latest");
      }
      if (name in WITHOUT_HEALTHCHECK)
        expect(service, WITHOUT_HEALTHCHECK[name]).not.toHaveProperty(
          "healthcheck",
        );
      else {
        const test = asList(
          asDict(service.healthcheck, `${name} healthcheck`).test,
        );
        expect(test.length, `${name}: healthcheck test`).toBeGreaterThan(1);
      }
      expect(service.restart).toBe("unless-stopped");
    },
  );

  it.each(Object.keys(services))(
    "%s has one comment above it saying its role",
    (name) => {
      const lines = readText("compose.yaml").split("\n");
      const at = lines.indexOf(`  ${name}:`);
      expect(at, name).toBeGreaterThan(0);
      expect(
        lines[at - 1]?.trim().startsWith("#"),
        `comment above ${name}`,
      ).toBe(true);
    },
  );

  it("declares every named volume it uses, uses every one it declares, and mounts files that exist", () => {
    const declared = new Set(Object.keys(asDict(base.volumes, "volumes")));
    const used = new Set<string>();
    for (const [name, service] of allServices) {
      for (const mount of asList(service.volumes).map(String)) {
        const source = mount.split(":")[0] ?? "";
        if (source.startsWith("./")) {
          expect(existsSync(repoPath(source)), `${name}: ${source}`).toBe(true);
        } else if (!source.startsWith("/")) {
          used.add(source);
          expect(
            declared.has(source),
            `${name}: volume ${source} declared`,
          ).toBe(true);
        }
      }
    }
    expect([...declared].sort()).toEqual([...used].sort());
  });

  it("publishes only 11434 and 3000 beyond loopback, nothing at all for Ollama and Redis", () => {
    for (const [name, service] of allServices) {
      for (const port of asList(service.ports).map((p) =>
        withDefaults(String(p)),
      )) {
        const parts = port.split(":");
        const container = Number(parts.at(-1));
        const hostIp = parts.length === 3 ? parts[0] : "0.0.0.0";
        if (hostIp !== "127.0.0.1")
          expect([11434, 3000], `${name}: ${port}`).toContain(container);
      }
    }
    expect(services.ollama).not.toHaveProperty("ports");
    expect(services.redis).not.toHaveProperty("ports");
  });

  it("depends only on existing services, and waits for health only where there is a healthcheck", () => {
    for (const [name, service] of allServices) {
      for (const [target, how] of Object.entries(
        isDict(service.depends_on) ? service.depends_on : {},
      )) {
        const dependency = allServices.find(([n]) => n === target)?.[1];
        expect(dependency, `${name} → ${target}`).toBeDefined();
        if (asString(asDict(how, target).condition) === "service_healthy") {
          expect(
            dependency?.healthcheck,
            `${target} has a healthcheck`,
          ).toBeDefined();
        }
      }
    }
    const proxyDeps = asDict(
      asDict(services.proxy, "proxy").depends_on,
      "proxy depends_on",
    );
    expect(asDict(proxyDeps.ollama, "ollama").condition).toBe(
      "service_healthy",
    );
    expect(asDict(proxyDeps.redis, "redis").condition).toBe("service_healthy");
  });

  it("wires the proxy to Ollama, Redis and Loki by service name, and lets it drain before SIGKILL", () => {
    const proxy = asDict(services.proxy, "proxy");
    const env = asDict(proxy.environment, "proxy environment");
    expect(env.OLLAMA_URL).toBe("http://ollama:11434");
    expect(env.REDIS_URL).toBe("redis://redis:6379");
    expect(env.LOKI_URL).toBe("http://loki:3100");
    const grace = Number(withDefaults(String(env.SHUTDOWN_GRACE_MS))) / 1000;
    expect(
      Number(/^(\d+)s$/.exec(String(proxy.stop_grace_period))?.[1]),
    ).toBeGreaterThan(grace);
    const build = asDict(proxy.build, "proxy build");
    expect(build).toMatchObject({
      context: ".",
      dockerfile: "proxy/Dockerfile",
      secrets: ["npm_ca"],
    });
    const secret = asDict(asDict(base.secrets, "secrets").npm_ca, "npm_ca");
    expect(asString(secret.file)).toMatch(/^\$\{NPM_CA_FILE:-\/.+\}$/);
  });

  it("keeps the record outbox durable and the components configured as the issue says", () => {
    const command = (name: string) =>
      asList(asDict(services[name], name).command).map(String);
    expect(command("redis").join(" ")).toMatch(/--appendonly yes/);
    expect(command("prometheus")).toContain(
      "--storage.tsdb.retention.time=${PROMETHEUS_RETENTION:-30d}",
    );
    expect(command("loki")).toContain("-config.expand-env=true");
    expect(
      asList(asDict(asDict(services.loki, "loki").healthcheck, "hc").test),
    ).toEqual(["CMD", "/usr/bin/loki", "-health"]);
    const grafanaEnv = asDict(
      asDict(services.grafana, "grafana").environment,
      "grafana env",
    );
    expect(grafanaEnv.GF_SECURITY_ADMIN_PASSWORD).toMatch(
      /^\$\{GRAFANA_ADMIN_PASSWORD/,
    );
    expect(grafanaEnv.GF_AUTH_ANONYMOUS_ENABLED).toMatch(
      /^\$\{GRAFANA_ANONYMOUS_ENABLED/,
    );
    expect(grafanaEnv.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe("Viewer");
  });

  it("documents every setting it reads in .env.example, and nothing else", () => {
    const text = ["compose.yaml", "compose.gpu.yaml"]
      .map((f) => readText(f))
      .join("\n");
    const used = new Set<string>(
      [...text.matchAll(/\$\{(\w+)/g)].map((m) => m[1]!),
    );
    for (const [, service] of allServices) {
      if (!isDict(service.environment)) continue;
      for (const [key, value] of Object.entries(service.environment))
        if (value === null) used.add(key);
    }
    const documented = new Set(
      [
        ...readText(".env.example").matchAll(/^(?:# )?([A-Z][A-Z0-9_]*)=/gm),
      ].map((m) => m[1]!),
    );
    expect(
      [...used].filter((v) => !documented.has(v)),
      "missing from .env.example",
    ).toEqual([]);
    expect(
      [...documented].filter((v) => !used.has(v)),
      "in .env.example but unused",
    ).toEqual([]);
  });

  it("Prometheus scrapes the services at their container ports", () => {
    const config = asDict(
      readYaml("prometheus/prometheus.yaml"),
      "prometheus.yaml",
    );
    const targets = asList(config.scrape_configs)
      .filter(isDict)
      .flatMap((job) => asList(job.static_configs).filter(isDict))
      .flatMap((sc) => asList(sc.targets).map(String));
    const gpuTargets = asList(readYaml("prometheus/targets/gpu.yaml"))
      .filter(isDict)
      .flatMap((t) => asList(t.targets).map(String));
    for (const target of [...targets, ...gpuTargets]) {
      const [host] = target.split(":");
      if (host === "localhost") continue;
      expect(
        allServices.map(([n]) => n),
        target,
      ).toContain(host);
    }
    expect(targets).toEqual(
      expect.arrayContaining([
        "proxy:11434",
        "localhost:9090",
        "loki:3100",
        "tempo:3200",
        "grafana:3000",
        "node-exporter:9100",
      ]),
    );
    expect(gpuTargets).toEqual(["gpu-exporter:9400"]);
  });
});
