// Lists the images the stack test needs, one `<role>\t<image>` line each: every compose service's image (from
// `docker compose config`, so .env and ${VAR:-default} tags are honoured) and the base image(s) of the Dockerfile
// of every service that is built. The role names the stand-in recipe under test/stack/images/ that can replace
// the image offline ("node" for a Dockerfile base, "-" when there is none, e.g. Grafana).
// Usage: node test/stack/images/resolve-images.ts [compose file …]   (default: compose.yaml compose.test.yaml)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

interface ComposeService {
  image?: string;
  build?: {
    context: string;
    dockerfile?: string;
    args?: Record<string, string>;
  };
}

/** compose service name → stand-in recipe (a folder under test/stack/images/). */
const RECIPES: Readonly<Record<string, string>> = {
  ollama: "ollama",
  redis: "redis",
  prometheus: "prometheus",
  loki: "loki",
  "node-exporter": "node-exporter",
};

/** The external images a Dockerfile starts FROM: ARG defaults substituted, stage names and scratch left out. */
export function dockerfileBases(
  text: string,
  buildArgs: Readonly<Record<string, string>> = {},
): string[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const bases: string[] = [];
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  let seenFrom = false;
  for (const raw of lines) {
    const line = raw.trim();
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?/i.exec(line);
    if (arg && !seenFrom) {
      const name = arg[1] ?? "";
      args.set(name, buildArgs[name] ?? unquote(arg[2] ?? ""));
      continue;
    }
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(
      line,
    );
    if (!from) continue;
    seenFrom = true;
    const image = (from[1] ?? "").replace(
      /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
      (_, name: string) => args.get(name) ?? "",
    );
    if (from[2]) stages.add(from[2].toLowerCase());
    if (image === "scratch" || stages.has(image.toLowerCase())) continue;
    if (!bases.includes(image)) bases.push(image);
  }
  return bases;
}

function unquote(value: string): string {
  return value.replace(/^(["'])(.*)\1$/, "$2");
}

function main(): void {
  const files = process.argv.slice(2);
  const composeFiles = files.length
    ? files
    : ["compose.yaml", "compose.test.yaml"];
  const json = execFileSync(
    "docker",
    [
      "compose",
      ...composeFiles.flatMap((f) => ["-f", f]),
      "config",
      "--format",
      "json",
    ],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      // Only image names are read here; compose refuses to interpolate the file without the generated password.
      env: {
        ...process.env,
        GRAFANA_ADMIN_PASSWORD:
          process.env.GRAFANA_ADMIN_PASSWORD || "unused-for-listing-images",
      },
    },
  );
  const services = (
    JSON.parse(json) as { services: Record<string, ComposeService> }
  ).services;
  const out: string[] = [];
  for (const [name, service] of Object.entries(services).sort()) {
    if (service.build) {
      const dockerfile = path.resolve(
        service.build.context,
        service.build.dockerfile ?? "Dockerfile",
      );
      for (const base of dockerfileBases(
        readFileSync(dockerfile, "utf8"),
        service.build.args,
      ))
        out.push(`node\t${base}`);
      continue;
    }
    if (service.image) out.push(`${RECIPES[name] ?? "-"}\t${service.image}`);
  }
  // The Dockerfile bases first: the ollama and loki stand-ins are built FROM the node one.
  const unique = [...new Set(out)].sort(
    (a, b) => Number(!a.startsWith("node\t")) - Number(!b.startsWith("node\t")),
  );
  process.stdout.write(unique.map((line) => `${line}\n`).join(""));
}

if (import.meta.main) main();
