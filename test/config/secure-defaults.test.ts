// Secure by default, as files say it: no password or token has a default anywhere a stack reads it, and the
// secrets make up generates land in a file only its owner can read.
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { listFiles, readText, repoPath } from "./repo-files.ts";

const SECRET_NAMES = /PASSWORD|TOKEN|SECRET/;

describe("no default password", () => {
  it("compose files give no secret a fallback value", () => {
    for (const file of [
      "compose.yaml",
      "compose.gpu.yaml",
      "compose.test.yaml",
      "compose.backends.yaml",
    ]) {
      for (const match of readText(file).matchAll(/\$\{(\w+):?-([^}]*)\}/g))
        if (SECRET_NAMES.test(match[1]!))
          expect.fail(`${file}: \${${match[1]}:-${match[2]}} has a default`);
    }
  });

  it(".env.example leaves every secret empty, for make up to generate", () => {
    for (const line of readText(".env.example").split("\n")) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match && SECRET_NAMES.test(match[1]!))
        expect(match[2], match[1]).toBe("");
    }
  });

  it("Grafana's provisioning holds no credential", () => {
    for (const file of listFiles("grafana/provisioning", ".yaml"))
      expect(readText(file), file).not.toMatch(
        /password|secureJsonData|basicAuthPassword|token/i,
      );
  });
});

describe("scripts/credentials.sh", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const run = (args: string[], envFile: string) =>
    spawnSync("bash", [repoPath("scripts/credentials.sh"), ...args], {
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        ENV_FILE: envFile,
        ENV_EXAMPLE: repoPath(".env.example"),
      },
    });
  const valueOf = (text: string, name: string) =>
    new RegExp(`^${name}=(.*)$`, "m").exec(text)?.[1];

  it("creates .env (mode 600) with fresh secrets once, prints them once, and keeps them afterwards", async () => {
    dir = await mkdtemp(join(tmpdir(), "credentials-"));
    const envFile = join(dir, ".env");
    const first = run(["ensure"], envFile);
    expect(first.status, first.stderr).toBe(0);
    const text = await readFile(envFile, "utf8");
    const password = valueOf(text, "GRAFANA_ADMIN_PASSWORD");
    const token = valueOf(text, "ANALYTICS_TOKEN");
    expect(password).toMatch(/^[0-9a-f]{32}$/);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(password).not.toBe(token);
    expect(first.stdout).toContain(password);
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);

    const again = run(["ensure"], envFile);
    expect(again.stdout).not.toContain("generated");
    expect(await readFile(envFile, "utf8")).toBe(text);
    const shown = run(["show"], envFile);
    expect(shown.stdout).toContain(password);
    expect(shown.stdout).toContain(`Bearer ${token}`);
  });

  it("fills a secret missing from an older .env without touching the rest", async () => {
    dir = await mkdtemp(join(tmpdir(), "credentials-"));
    const envFile = join(dir, ".env");
    await writeFile(envFile, "GRAFANA_ADMIN_PASSWORD=kept\nLOG_LEVEL=debug\n", {
      mode: 0o644,
    });
    expect(run(["ensure"], envFile).status).toBe(0);
    const text = await readFile(envFile, "utf8");
    expect(valueOf(text, "GRAFANA_ADMIN_PASSWORD")).toBe("kept");
    expect(valueOf(text, "LOG_LEVEL")).toBe("debug");
    expect(valueOf(text, "ANALYTICS_TOKEN")).toMatch(/^[0-9a-f]{32}$/);
    expect((await stat(envFile)).mode & 0o777).toBe(0o600);
  });
});
