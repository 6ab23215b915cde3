// Reading the stack's config files for the config tests: repository paths, YAML/JSON as plain data, and finding
// executables. No assertions here.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

export function readText(path: string): string {
  return readFileSync(repoPath(path), "utf8");
}

export function readYaml(path: string): unknown {
  return parseYaml(readText(path)) as unknown;
}

export function readJson(path: string): unknown {
  return JSON.parse(readText(path)) as unknown;
}

/** Files under a repository folder whose name ends with `suffix`, as repository-relative paths, sorted. */
export function listFiles(dir: string, suffix: string): string[] {
  const found: string[] = [];
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(suffix)) found.push(relative(ROOT, path));
    }
  };
  if (existsSync(repoPath(dir))) walk(repoPath(dir));
  return found.sort();
}

// ------------------------------------------------------------------------------------- plain-data access

export type Dict = Record<string, unknown>;

export function isDict(value: unknown): value is Dict {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function asDict(value: unknown, what: string): Dict {
  if (!isDict(value))
    throw new Error(
      `${what}: expected a mapping, got ${JSON.stringify(value)}`,
    );
  return value;
}

export function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

export function asString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

// ------------------------------------------------------------------------------------------- executables

/** Absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Runs a command; returns its exit status and combined output (stdout, then stderr) instead of throwing. */
export function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): { status: number; output: string } {
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: options.timeoutMs ?? 60_000,
    env: options.env ?? process.env,
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  if (result.error)
    return { status: 1, output: `${output}${result.error.message}` };
  return { status: result.status ?? 1, output };
}
