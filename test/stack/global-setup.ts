// Before the stack suite is collected: is there a Docker engine, and which images does the stack run on? Real
// images when present or pullable, else local stand-ins (scripts/stack-images.sh). The answer is provided to the
// suite (inject("stack")), which skips itself in one line without an engine and skips Grafana without its image.
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { TestProject } from "vitest/node";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

export type ImageSource = "real" | "pulled" | "stand-in" | "missing";

export interface StackImages {
  /** Set when the suite cannot run at all: no docker CLI or no engine answering. */
  unavailable?: string;
  /** compose image reference → where it comes from. */
  images: Record<string, ImageSource>;
  /** Some image is a local stand-in: no registry here, the stack runs offline. */
  offline: boolean;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackImages;
  }
}

async function engineProblem(): Promise<string | undefined> {
  try {
    await run("docker", ["--version"], { timeout: 10_000 });
  } catch {
    return "no docker CLI on PATH";
  }
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], {
      timeout: 15_000,
    });
  } catch {
    return "no Docker engine answers (scripts/start-dockerd.sh starts one)";
  }
  try {
    await run("docker", ["compose", "version"], { timeout: 10_000 });
  } catch {
    return "no Docker Compose v2 plugin (scripts/install-compose.sh installs it)";
  }
  return undefined;
}

/** Runs the images script with its progress (stderr) shown live; resolves with its `<image> <source>` lines. */
function imagesScript(mode: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("scripts/stack-images.sh", ["--mode", mode], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else
        reject(
          new Error(`scripts/stack-images.sh exited with ${code}:\n${stdout}`),
        );
    });
  });
}

export default async function setup(project: TestProject): Promise<void> {
  const unavailable = await engineProblem();
  if (unavailable !== undefined) {
    console.warn(`stack tests skipped: ${unavailable}`);
    project.provide("stack", { unavailable, images: {}, offline: false });
    return;
  }
  const mode = process.env.STACK_IMAGES_MODE ?? "auto";
  console.log(`stack images (${mode}): scripts/stack-images.sh`);
  const stdout = await imagesScript(mode);
  const images: Record<string, ImageSource> = {};
  for (const line of stdout.split("\n")) {
    const [image, source] = line.trim().split(/\s+/);
    if (image && source) images[image] = source as ImageSource;
  }
  process.stdout.write(stdout);
  const offline = Object.values(images).includes("stand-in");
  project.provide("stack", { images, offline });
}
