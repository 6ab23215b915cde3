// The stack tier's shell helpers, checked without Docker: which base images the stand-in logic reads from a
// Dockerfile, and what scripts/start-dockerd.sh --dry-run would do on a machine without an engine (docker,
// dockerd and apt-get replaced by stubs on PATH).
import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "./compose-stack.ts";
import { dockerfileBases } from "./images/resolve-images.ts";

const run = promisify(execFile);

describe("dockerfileBases", () => {
  it("reads proxy/Dockerfile's base from its ARG default", () => {
    const text = readFileSync(path.join(REPO_ROOT, "proxy/Dockerfile"), "utf8");
    const bases = dockerfileBases(text);
    expect(bases).toHaveLength(1);
    expect(bases[0]).toMatch(/^node:24/);
  });

  it("substitutes ARGs, honours build args and leaves out stages and scratch", () => {
    const text = [
      "ARG BASE=node:24-slim",
      "ARG OTHER",
      "FROM --platform=linux/amd64 ${BASE} AS build",
      "FROM build AS test",
      "FROM scratch",
      "FROM $OTHER",
      "FROM gcr.io/distroless/nodejs24 AS runtime",
    ].join("\n");
    expect(dockerfileBases(text, { OTHER: "busybox:1" })).toEqual([
      "node:24-slim",
      "busybox:1",
      "gcr.io/distroless/nodejs24",
    ]);
  });
});

describe("scripts/start-dockerd.sh --dry-run", () => {
  const stubs = mkdtempSync(path.join(tmpdir(), "start-dockerd-"));
  afterAll(() => rmSync(stubs, { recursive: true, force: true }));
  const stub = (name: string, body: string) => {
    writeFileSync(path.join(stubs, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(stubs, name), 0o755);
  };
  // PATH is only this folder: the tools the script uses, a docker CLI whose engine never answers, no dockerd,
  // no running dockerd, root, and an apt-get that must not run.
  for (const tool of [
    "bash",
    "dirname",
    "mkdir",
    "sed",
    "awk",
    "seq",
    "sleep",
    "tail",
    "timeout",
  ]) {
    const found = (process.env.PATH ?? "")
      .split(":")
      .map((dir) => path.join(dir, tool))
      .find((file) => existsSync(file));
    if (found) symlinkSync(found, path.join(stubs, tool));
  }
  stub("docker", "exit 1");
  stub("apt-get", 'echo "apt-get ran: $*" >&2; exit 1');
  stub("pgrep", "exit 1");
  stub("id", "echo 0");

  const dryRun = (args: string[]) =>
    run(
      path.join(stubs, "bash"),
      [path.join(REPO_ROOT, "scripts/start-dockerd.sh"), ...args],
      { env: { PATH: stubs, HOME: stubs } },
    ).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        out: e.stdout + e.stderr,
      }),
    );

  it("plans apt-get install docker.io, then dockerd in the background", async () => {
    const { code, out } = await dryRun(["--dry-run"]);
    expect(out).not.toMatch(/apt-get ran/);
    expect(out).toMatch(/dockerd missing/);
    expect(out).toMatch(/\+ apt-get update/);
    expect(out).toMatch(/\+ .*apt-get install .*docker\.io/);
    expect(out).toMatch(/\+ setsid nohup dockerd .*>>\/var\/log\/dockerd\.log/);
    expect(code).toBe(0);
  });

  it("with --no-install and no dockerd, says so and fails without installing", async () => {
    const { code, out } = await dryRun(["--dry-run", "--no-install"]);
    expect(out).toMatch(/dockerd is not installed/);
    expect(out).not.toMatch(/\+ .*apt-get|apt-get ran/);
    expect(code).toBe(1);
  });
});
