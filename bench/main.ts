// `npm run bench` / `make bench`: the side-by-side benchmark of issue 7. One run, one machine, one upstream.
//   node bench/main.ts [--quick] [--reps N] [--out DIR] [--targets a,b] [--scenarios small,stream,paced,large]
//                      [--pin] [--no-redis] [--profile DIR] [--proxy-src DIR] [--proxy-env K=V,...]
// Writes DIR/latest.json (every figure) and DIR/latest.md (the tables); DIR defaults to bench/results.
// --profile runs the Node targets under `node --cpu-prof`, writes <target>.cpuprofile (one per thread:
// <target>.thread-N.cpuprofile) and profile.md (a summary) into DIR, and the tables into DIR too (profiling slows
// the targets: not for the README).
// --proxy-src runs the proxy targets from another copy of proxy/src inside the project (a change under test, e.g.
// in .cache/); --proxy-env adds environment to the shipped proxy.
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { renderProfile, summarizeProfile } from "./profile-summary.ts";
import { renderMarkdown, writeReport } from "./report.ts";
import { runBench, type ScenarioName } from "./run.ts";
import { FULL_PLAN, QUICK_PLAN } from "./scenarios.ts";
import {
  DEFAULT_TARGETS,
  findBinary,
  parseProxyEnv,
  TARGET_NAMES,
  type TargetName,
} from "./targets.ts";

const SCENARIOS: readonly ScenarioName[] = [
  "small",
  "stream",
  "paced",
  "large",
];

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  what: string,
  defaults: readonly T[] = allowed,
): T[] {
  if (value === undefined) return [...defaults];
  const items = value.split(",").map((item) => item.trim());
  for (const item of items)
    if (!allowed.includes(item as T))
      fail(`unknown ${what} "${item}" (one of ${allowed.join(", ")})`);
  return items as T[];
}

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    out: { type: "string" },
    targets: { type: "string" },
    scenarios: { type: "string" },
    pin: { type: "boolean", default: false },
    "no-redis": { type: "boolean", default: false },
    profile: { type: "string" },
    "proxy-src": { type: "string" },
    "proxy-env": { type: "string" },
  },
});

let proxyEnv: Record<string, string> = {};
try {
  proxyEnv = parseProxyEnv(values["proxy-env"]);
} catch (error) {
  fail((error as Error).message);
}

const targets = list<TargetName>(
  values.targets,
  TARGET_NAMES,
  "target",
  DEFAULT_TARGETS,
);
// Ratios and "added" figures are relative to direct: it always runs, first.
const ordered: TargetName[] = [
  "direct",
  ...targets.filter((name) => name !== "direct"),
];
const scenarios = new Set(list(values.scenarios, SCENARIOS, "scenario"));

const wrkBin = findBinary("wrk");
const nginxBin = findBinary("nginx", ["/usr/sbin", "/usr/local/sbin"]);
const redisBin = findBinary("redis-server", ["/usr/sbin"]);
if (!wrkBin)
  fail("wrk is not installed (apt-get install -y wrk, or make bench)");
if (!nginxBin && ordered.includes("nginx"))
  fail("nginx is not installed (apt-get install -y nginx, or make bench)");
if (values.pin && !findBinary("taskset"))
  fail("--pin needs taskset (util-linux)");
const redis = !values["no-redis"] && redisBin !== undefined;
if (!redis && !values["no-redis"])
  process.stderr.write(
    "bench: redis-server not found; records use the in-memory outbox\n",
  );

const profileDir = values.profile ? resolve(values.profile) : undefined;
const out =
  values.out ??
  profileDir ??
  fileURLToPath(new URL("./results", import.meta.url));
const basePlan = values.quick ? QUICK_PLAN : FULL_PLAN;
const reps = values.reps === undefined ? undefined : Number(values.reps);
if (reps !== undefined && !(Number.isInteger(reps) && reps > 0))
  fail(`--reps expects a positive integer, got "${values.reps}"`);
const results = await runBench({
  plan: reps
    ? { ...basePlan, reps, paced: { ...basePlan.paced, reps } }
    : basePlan,
  targets: ordered,
  pin: values.pin,
  redis,
  nginxBin: nginxBin ?? "nginx",
  wrkBin,
  scenarios,
  profileDir,
  proxySrc: values["proxy-src"] ? resolve(values["proxy-src"]) : undefined,
  proxyEnv,
  log: (line) => process.stderr.write(`${line}\n`),
});
const written = await writeReport(results, out);
process.stdout.write(renderMarkdown(results));
process.stderr.write(`bench: wrote ${written.markdown} and ${written.json}\n`);

if (profileDir) {
  const parts: string[] = [];
  const targets = await readdir(profileDir, { withFileTypes: true });
  for (const target of targets.filter((entry) => entry.isDirectory())) {
    const dir = join(profileDir, target.name);
    const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
    for (const file of files.sort()) {
      // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
      const threadId = file.split(".")[4];
      const name =
        threadId === "0"
          ? `${target.name}.cpuprofile`
          : `${target.name}.thread-${threadId}.cpuprofile`;
      const path = join(profileDir, name);
      await rename(join(dir, file), path);
      const profile = JSON.parse(await readFile(path, "utf8")) as Parameters<
        typeof summarizeProfile
      >[1];
      parts.push(renderProfile(summarizeProfile(path, profile)));
    }
    await rm(dir, { recursive: true, force: true });
  }
  await writeFile(join(profileDir, "profile.md"), parts.join("\n"));
  process.stderr.write(
    `bench: CPU profiles and their summary in ${profileDir}/profile.md\n`,
  );
}
