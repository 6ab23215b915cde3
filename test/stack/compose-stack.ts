// The stack under test: compose.yaml + compose.test.yaml (+ compose.no-<service>.yaml for an image missing) brought up
// by testcontainers' DockerComposeEnvironment, waiting on every healthcheck. Owns the compose project: down()
// removes its containers, networks and volumes, also when `up` itself failed; serviceLogs() is what a failing
// run prints.
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DockerComposeEnvironment, Wait } from "testcontainers";
import { waitFor } from "../helpers/wait-for.ts";

const exec = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const PROJECT = "ollama-obs-stack-test";

export type Service =
  | "ollama"
  | "proxy"
  | "redis"
  | "prometheus"
  | "loki"
  | "grafana"
  | "node-exporter";

export interface StackOptions {
  /** Services whose image cannot be had (no stand-in, no registry): test/stack/compose.no-<service>.yaml each. */
  without: readonly ImageOnlyService[];
  /** Two Ollamas: add compose.backends.yaml, under a project of its own. */
  backends?: boolean;
}

export interface Stack {
  readonly files: readonly string[];
  /**
   * Removes what a killed earlier run left, then brings the stack (or `services` and what they depend on) up
   * and waits on the healthchecks.
   */
  up(services?: string[]): Promise<void>;
  /** http://127.0.0.1:<published port> of a service's HTTP port. */
  url(
    service: "proxy" | "prometheus" | "loki" | "grafana" | "tempo",
  ): Promise<string>;
  /** `docker compose -p … -f … <args>`; resolves with stdout. */
  compose(args: string[], timeoutMs?: number): Promise<string>;
  /** `docker compose config` as JSON (what compose will run, after .env and the overrides). */
  config(): Promise<ComposeConfig>;
  /** One line per container: service, state, health. */
  status(): Promise<ServiceStatus[]>;
  serviceLogs(service: string, tail?: number): Promise<string>;
  down(): Promise<void>;
}

export interface ServiceStatus {
  service: string;
  state: string;
  health: string;
}

export interface ComposeConfig {
  services: Record<
    string,
    { image?: string; environment?: Record<string, string | null> }
  >;
  "x-stack-test"?: Record<string, string>;
}

/** Removes the project's containers, networks and volumes; quick, since the suite's state is throwaway. */
const DOWN = ["down", "--volumes", "--remove-orphans", "--timeout", "5"];
const HTTP_PORT = {
  proxy: 11434,
  prometheus: 9090,
  loki: 3100,
  grafana: 3000,
  tempo: 3200,
};

/** The services that have no local stand-in: they run only with their real image. */
export type ImageOnlyService = "grafana" | "tempo";

const IMAGE_ONLY: Record<ImageOnlyService, string> = {
  grafana: "grafana/grafana",
  tempo: "grafana/tempo",
};

/** Where the image of `repository` (e.g. "grafana/loki", any tag) came from, in global-setup's answer (image
 * name → where it came from); undefined when the stack has no such image. */
export function sourceOf(
  images: Readonly<Record<string, string>>,
  repository: string,
): string | undefined {
  return Object.entries(images).find(([image]) =>
    image.startsWith(`${repository}:`),
  )?.[1];
}

/** Which image-only services cannot run, from global-setup's answer. */
export function missingServices(
  images: Readonly<Record<string, string>>,
): ImageOnlyService[] {
  return (Object.keys(IMAGE_ONLY) as ImageOnlyService[]).filter((service) => {
    const source = sourceOf(images, IMAGE_ONLY[service]);
    return source === undefined || source === "missing";
  });
}

export function composeFiles(
  without: readonly ImageOnlyService[],
  backends = false,
): string[] {
  return [
    "compose.yaml",
    "compose.test.yaml",
    ...(backends ? ["compose.backends.yaml"] : []),
    ...without.map((service) => `test/stack/compose.no-${service}.yaml`),
  ];
}

async function docker(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ stdout: string; stderr: string }> {
  return exec("docker", args, {
    cwd: REPO_ROOT,
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * The secrets `make up` generates into .env: compose refuses to start Grafana without a password. Generated per
 * run and handed to every compose command through the environment, as make up's .env would.
 */
function ensureGeneratedSecrets(): void {
  process.env.GRAFANA_ADMIN_PASSWORD ||= randomBytes(16).toString("hex");
  process.env.ANALYTICS_TOKEN ||= randomBytes(16).toString("hex");
}

/** The stack, not started yet: up() builds the proxy image and waits until every service reports healthy. */
export function createStack(options: StackOptions): Stack {
  ensureGeneratedSecrets();
  const files = composeFiles(options.without, options.backends);
  const project = options.backends ? `${PROJECT}-backends` : PROJECT;
  const composeArgs = (args: string[]) => [
    "compose",
    "-p",
    project,
    ...files.flatMap((f) => ["-f", f]),
    ...args,
  ];
  const compose = async (args: string[], timeoutMs?: number) =>
    (await docker(composeArgs(args), timeoutMs)).stdout;

  /** Image id of every service compose builds (the proxy), by image name. */
  async function builtImageIds(): Promise<Map<string, string>> {
    const config = JSON.parse(
      await compose(["config", "--format", "json"]),
    ) as { services: Record<string, { image?: string; build?: unknown }> };
    const ids = new Map<string, string>();
    for (const service of Object.values(config.services)) {
      if (!service.build || !service.image) continue;
      const id = await docker([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        service.image,
      ])
        .then((r) => r.stdout.trim())
        .catch(() => "");
      if (id) ids.set(service.image, id);
    }
    return ids;
  }

  /** A rebuild leaves the previous image untagged: remove it, so that runs do not pile up images. */
  async function removeReplaced(
    before: Map<string, string>,
    after: Map<string, string>,
  ): Promise<void> {
    for (const [image, id] of before)
      if (after.get(image) !== id)
        await docker(["image", "rm", id]).catch(() => undefined);
  }

  return {
    files,
    async up(services) {
      // A previous run that was killed before its teardown holds the fixed ports: remove it first.
      await compose(DOWN);
      const before = await builtImageIds();
      const environment = new DockerComposeEnvironment(REPO_ROOT, files)
        .withProjectName(project)
        .withBuild()
        // Ryuk (the reaper container) would have to be pulled; down() does its job.
        .withAutoCleanup(false)
        .withDefaultWaitStrategy(Wait.forHealthCheck())
        // Tempo's distroless image has no healthcheck (and no shell for a port check): its start is seen in its
        // log, its readiness below.
        .withWaitStrategy("tempo-1", Wait.forLogMessage("Tempo started"))
        .withStartupTimeout(180_000);
      try {
        try {
          await environment.up(services);
        } catch (error) {
          // Seen on a loaded machine: Docker gives up while it creates the network ("Network … Creating").
          // Such a failure happens before any service ran; one clean retry separates it from a real one.
          if (!/network/i.test(describeError(error))) throw error;
          console.warn(
            `docker compose up failed while creating the network, retrying once: ${describeError(error)}`,
          );
          await compose(DOWN);
          await environment.up(services);
        }
      } catch (error) {
        throw new Error(`docker compose up failed: ${describeError(error)}`, {
          cause: error,
        });
      } finally {
        await removeReplaced(before, await builtImageIds());
      }
      // Spans exported before Tempo's ingester joins its ring (~15 s) are dropped: the traffic waits for /ready.
      const running = await compose([
        "ps",
        "--services",
        "--status",
        "running",
      ]);
      if (running.split("\n").includes("tempo")) {
        const ready = `${await this.url("tempo")}/ready`;
        await waitFor(
          async () =>
            (await fetch(ready).catch(() => undefined))?.status === 200,
          { timeoutMs: 120_000, intervalMs: 1000, message: "Tempo /ready" },
        );
      }
    },
    async url(service) {
      const out = await compose(["port", service, String(HTTP_PORT[service])]);
      const port = out.trim().split(":").pop();
      if (!port) throw new Error(`${service} publishes no port`);
      return `http://127.0.0.1:${port}`;
    },
    compose,
    async config() {
      return JSON.parse(
        await compose(["config", "--format", "json"]),
      ) as ComposeConfig;
    },
    async status() {
      const out = await compose(["ps", "--all", "--format", "json"]);
      // Compose 2.21+ prints one JSON object per line; older ones a JSON array.
      const rows = out.trim().startsWith("[")
        ? (JSON.parse(out) as Record<string, string>[])
        : out
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, string>);
      return rows.map((r) => ({
        service: r.Service ?? "?",
        state: r.State ?? "?",
        health: r.Health ?? "",
      }));
    },
    async serviceLogs(service, tail = 200) {
      const { stdout, stderr } = await docker(
        composeArgs(["logs", "--no-color", "--tail", String(tail), service]),
      ).catch((error: { stdout?: string; stderr?: string }) => ({
        stdout: error.stdout ?? "",
        stderr: error.stderr ?? "",
      }));
      return stdout + stderr;
    },
    async down() {
      await compose(DOWN);
    },
  };
}

/** docker-compose (the npm library) rejects with { exitCode, err, out } rather than an Error. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null) {
    const { exitCode, err, out } = error as {
      exitCode?: number;
      err?: string;
      out?: string;
    };
    const tail = `${err ?? ""}${out ?? ""}`.trim().split("\n").slice(-30);
    return `exit ${String(exitCode)}\n${tail.join("\n")}`;
  }
  return String(error);
}
