// Summarises V8 CPU profiles (node --cpu-prof) as Markdown: busy time by area (our modules, each package,
// Node internals, GC) and the top functions by self time. Idle time is left out of every share.
//   node bench/profile-summary.ts <file.cpuprofile>... [--top N]
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  readonly file: string;
  readonly busyMs: number;
  /** Self time by where the code lives. */
  readonly areas: ReadonlyArray<{ area: string; ms: number; share: number }>;
  /**
   * Time by owner: the nearest frame on the stack that is our code or a package, so that Node internals and
   * syscalls (writev) are charged to whoever called them; "node/V8 only" when no such frame is on the stack.
   */
  readonly owners: ReadonlyArray<{ area: string; ms: number; share: number }>;
  readonly functions: ReadonlyArray<{
    name: string;
    where: string;
    selfMs: number;
    share: number;
  }>;
}

/** Where a frame's code lives: our module, a package, a Node built-in, or V8 itself. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName === "(garbage collector)") return "V8: garbage collector";
    if (functionName === "(program)") return "V8/native: (program)";
    return `native: ${functionName || "(anonymous)"}`;
  }
  const ours = /\/(proxy\/src\/.+|bench\/.+)$/.exec(url);
  if (ours) return ours[1] as string;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  if (url.startsWith("node:")) return url.replace(/^node:internal\//, "node: ");
  return url;
}

export function summarizeProfile(
  file: string,
  profile: CpuProfile,
  top = 25,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time between sample i-1 and sample i; charge it to sample i's node.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const ownerCache = new Map<number, string | null>();
  const isOwner = (area: string) =>
    area.startsWith("npm: ") ||
    area.startsWith("proxy/") ||
    area.startsWith("bench/");
  // The nearest own or package frame at or above a node; null when there is none up to the root.
  const ownerAbove = (id: number): string | null => {
    const cached = ownerCache.get(id);
    if (cached !== undefined) return cached;
    const node = byId.get(id);
    let owner: string | null = null;
    if (node) {
      const area = areaOf(node.callFrame);
      if (isOwner(area)) owner = area;
      else {
        const up = parent.get(id);
        owner = up === undefined ? null : ownerAbove(up);
      }
    }
    ownerCache.set(id, owner);
    return owner;
  };
  const ownerOf = (id: number): string => {
    const owner = ownerAbove(id);
    if (owner !== null) return owner;
    const node = byId.get(id);
    const area = node ? areaOf(node.callFrame) : "";
    // GC and (program) have no JS stack; everything else is Node's own machinery (http, streams, net).
    return area.startsWith("V8") ? area : "node internals (no own frame above)";
  };
  const owners = new Map<string, number>();
  const areas = new Map<string, number>();
  const functions = new Map<
    string,
    { name: string; where: string; us: number }
  >();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)") continue;
    busyUs += us;
    const area = areaOf(node.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const owner = ownerOf(id);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const where = node.callFrame.url
      ? `${area}:${node.callFrame.lineNumber + 1}`
      : area;
    const name = node.callFrame.functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const entry = functions.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const share = (us: number) => (busyUs > 0 ? us / busyUs : 0);
  return {
    file,
    busyMs: busyUs / 1000,
    areas: [...areas]
      .map(([area, us]) => ({ area, ms: us / 1000, share: share(us) }))
      .sort((a, b) => b.ms - a.ms),
    owners: [...owners]
      .map(([area, us]) => ({ area, ms: us / 1000, share: share(us) }))
      .sort((a, b) => b.ms - a.ms),
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({
        name: f.name,
        where: f.where,
        selfMs: f.us / 1000,
        share: share(f.us),
      })),
  };
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

export function renderProfile(summary: ProfileSummary, topAreas = 20): string {
  const lines = [
    `#### ${basename(summary.file)}: ${(summary.busyMs / 1000).toFixed(2)} s busy`,
    "",
    "| owner (nearest own or package frame) | time | share |",
    "| --- | ---: | ---: |",
    ...summary.owners
      .slice(0, topAreas)
      .map((a) => `| ${a.area} | ${a.ms.toFixed(0)} ms | ${pct(a.share)} |`),
    "",
    "| area (self time) | self | share |",
    "| --- | ---: | ---: |",
    ...summary.areas
      .slice(0, topAreas)
      .map((a) => `| ${a.area} | ${a.ms.toFixed(0)} ms | ${pct(a.share)} |`),
    "",
    "| function | where | self | share |",
    "| --- | --- | ---: | ---: |",
    ...summary.functions.map(
      (f) =>
        `| ${f.name} | ${f.where} | ${f.selfMs.toFixed(0)} ms | ${pct(f.share)} |`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "25" } },
  });
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    process.stdout.write(
      `${renderProfile(summarizeProfile(file, profile, Number(values.top)))}\n`,
    );
  }
}
