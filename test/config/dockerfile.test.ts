// A lint of proxy/Dockerfile for the rules that matter here, in place of hadolint: hadolint has no Debian
// package (bookworm), the npm package `hadolint` is only a wrapper that expects the binary on PATH, and the
// binary itself is a GitHub download or a PyPI wheel, neither reachable from this project's machines.
// The rules (hadolint ids where one exists): pinned base tags, never `latest` (DL3006/DL3007); a non-root USER
// in the final stage (DL3002); `npm ci`, never `npm install`; exec-form CMD (DL3025); COPY, not ADD (DL3020);
// a HEALTHCHECK and EXPOSE 11434; and this project's own: every `npm ci` takes the optional `npm_ca` secret, the
// runtime gets production dependencies only, and nothing beyond node/npm/sh is needed from the base image.
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { asDict, asList, readText } from "./repo-files.ts";

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions with continuation lines joined; comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] ?? "";
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.trimEnd().endsWith("\\") && i + 1 < lines.length) {
      i++;
      const next = lines[i] ?? "";
      if (/^\s*#/.test(next)) continue;
      line = `${line.trimEnd().slice(0, -1).trimEnd()} ${next.trim()}`;
    }
    const match = /^\s*(\w+)\s+(.*)$/.exec(line);
    if (match)
      out.push({
        keyword: match[1]!.toUpperCase(),
        args: match[2]!.trim(),
        line: start + 1,
      });
  }
  return out;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

function stagesOf(instructions: Instruction[]): {
  args: Map<string, string>;
  stages: Stage[];
} {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "ARG" && stages.length === 0) {
      const [name, value] = ins.args.split("=", 2) as [
        string,
        string | undefined,
      ];
      args.set(name, value ?? "");
    } else if (ins.keyword === "FROM") {
      const [image, , name] = ins.args
        .replace(/--platform=\S+\s+/, "")
        .split(/\s+/);
      stages.push({ image: image ?? "", name, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(ins);
    }
  }
  return { args, stages };
}

const text = readText("proxy/Dockerfile");
const instructions = parseDockerfile(text);
const { args, stages } = stagesOf(instructions);
const final = stages.at(-1)!;
const runs = instructions.filter((i) => i.keyword === "RUN");
const resolve = (image: string) =>
  image.replace(/\$\{?(\w+)\}?/g, (_, name: string) => args.get(name) ?? "");

describe("proxy/Dockerfile", () => {
  it("is multi-stage: build, production dependencies, runtime", () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(stages.map((s) => s.name)).toEqual(
      expect.arrayContaining(["build", "deps"]),
    );
  });

  it("starts every stage from a pinned Node 24 image (a tag, never latest) or an earlier stage", () => {
    const names = new Set<string>();
    for (const stage of stages) {
      const image = resolve(stage.image);
      if (!names.has(image)) {
        expect(image, stage.image).toMatch(/^node:24[\w.-]*$/);
        expect(image).not.toMatch(/:latest$/);
      }
      if (stage.name) names.add(stage.name);
    }
  });

  it("has no `# syntax=` directive (an offline build cannot pull a frontend image)", () => {
    expect(text).not.toMatch(/^#\s*syntax=/im);
  });

  it("installs with `npm ci`, never `npm install`, each with the optional npm_ca secret as NODE_EXTRA_CA_CERTS", () => {
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r.args))).toBe(false);
    const installs = runs.filter((r) => /\bnpm ci\b/.test(r.args));
    expect(installs.length).toBeGreaterThanOrEqual(2);
    for (const ins of installs) {
      expect(ins.args, `line ${ins.line}`).toContain(
        "--mount=type=secret,id=npm_ca,required=false",
      );
      expect(ins.args, `line ${ins.line}`).toContain(
        "NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca",
      );
    }
  });

  it("builds with tsc through the proxy workspace and runs the compiled proxy/dist/main.js", () => {
    expect(
      runs.some((r) => r.args.includes("npm run build --workspace proxy")),
    ).toBe(true);
    const cmd = final.instructions.filter((i) => i.keyword === "CMD").at(-1);
    expect(JSON.parse(cmd?.args ?? "null")).toEqual([
      "node",
      "proxy/dist/main.js",
    ]);
  });

  it("gives the runtime stage production dependencies only", () => {
    const deps = stages.find((s) => s.name === "deps");
    expect(
      deps?.instructions.some((i) =>
        /npm ci --omit=dev --workspace proxy/.test(i.args),
      ),
    ).toBe(true);
    const copies = final.instructions
      .filter((i) => i.keyword === "COPY")
      .map((i) => i.args);
    expect(copies.find((c) => c.includes("node_modules"))).toMatch(
      /^--from=deps /,
    );
  });

  it("runs as a non-root user, exposes 11434, has a HEALTHCHECK and an exec-form CMD", () => {
    const user =
      final.instructions.filter((i) => i.keyword === "USER").at(-1)?.args ??
      "root";
    expect(user.split(":")[0]).not.toMatch(/^(root|0)$/);
    expect(
      final.instructions.some(
        (i) => i.keyword === "EXPOSE" && i.args.split(/\s+/).includes("11434"),
      ),
    ).toBe(true);
    const healthcheck = final.instructions.find(
      (i) => i.keyword === "HEALTHCHECK",
    );
    expect(healthcheck?.args).toMatch(/CMD \["node", "-e", .*\/healthz/);
    for (const ins of instructions.filter((i) =>
      ["CMD", "ENTRYPOINT"].includes(i.keyword),
    )) {
      expect(
        () => JSON.parse(ins.args) as unknown,
        `line ${ins.line}: exec form`,
      ).not.toThrow();
    }
  });

  it("uses COPY, not ADD, and nothing from the base image but node, npm and a POSIX shell", () => {
    expect(instructions.some((i) => i.keyword === "ADD")).toBe(false);
    for (const ins of runs) {
      expect(ins.args, `line ${ins.line}`).not.toMatch(
        /\b(apt-get|apk|yum|dnf|useradd|adduser|groupadd|curl|wget)\b/,
      );
    }
  });

  it("the build secret id matches the one compose.yaml passes", () => {
    const compose = asDict(
      parseYaml(readText("compose.yaml")) as unknown,
      "compose",
    );
    const proxy = asDict(asDict(compose.services, "services").proxy, "proxy");
    expect(asList(asDict(proxy.build, "build").secrets)).toEqual(["npm_ca"]);
  });

  it("ships a .dockerignore that keeps node_modules and build output out of the context", () => {
    const ignore = readText(".dockerignore");
    expect(ignore).toMatch(/^\*$/m);
    expect(ignore).toMatch(/^proxy\/node_modules$/m);
    expect(ignore).toMatch(/^proxy\/dist$/m);
    for (const source of instructions.filter(
      (i) => i.keyword === "COPY" && !i.args.startsWith("--from"),
    )) {
      for (const path of source.args.split(/\s+/).slice(0, -1)) {
        const allowed =
          ["package.json", "package-lock.json", "tsconfig.base.json"].includes(
            path,
          ) || path.startsWith("proxy/");
        expect(
          allowed,
          `COPY ${path} must be let through by .dockerignore`,
        ).toBe(true);
      }
    }
  });
});

describe("the lint itself", () => {
  it("joins continuation lines and skips comments inside them", () => {
    const parsed = parseDockerfile(
      "FROM node:24 AS a\nRUN a \\\n  # note\n  && b\nUSER 1000\n",
    );
    expect(parsed.map((i) => [i.keyword, i.args])).toEqual([
      ["FROM", "node:24 AS a"],
      ["RUN", "a && b"],
      ["USER", "1000"],
    ]);
  });
});
