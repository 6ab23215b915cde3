// BenchResults → the Markdown report (tables with ratios to direct and to nginx, the targets checked)
// and the JSON file with every figure. Pure apart from writeReport().
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BenchResults } from "./run.ts";
import { num, signedMs } from "./format.ts";
import { spreadPercent, type Summary } from "./stats.ts";
import { checkTargets } from "./target-checks.ts";
import { TARGET_LABELS, type TargetName } from "./targets.ts";

/** "median ±half-range%" */
const withSpread = (summary: Summary | undefined, digits = 0): string => {
  if (!summary || !Number.isFinite(summary.median)) return "–";
  if (summary.values.length < 2) return num(summary.median, digits);
  return `${num(summary.median, digits)} ±${num(spreadPercent(summary) / 2)}%`;
};

const ms = (summary: Summary | undefined, digits = 2): string =>
  summary && Number.isFinite(summary.median)
    ? num(summary.median, digits)
    : "–";

const ratio = (a: number | undefined, b: number | undefined): string =>
  a !== undefined && b !== undefined && b > 0 && Number.isFinite(a)
    ? `${num(a / b, 2)}×`
    : "–";

const label = (name: TargetName) => TARGET_LABELS[name];

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(header),
    line(header.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...rows.map(line),
  ].join("\n");
}

const mark = (holds: boolean | undefined) =>
  holds === undefined ? "n/a" : holds ? "✅ holds" : "❌ missed";

export function renderMarkdown(results: BenchResults): string {
  const out: string[] = [];
  const { machine, plan, setup } = results;
  const names = setup.targets.map((t) => t.name);
  out.push(
    `Run ${results.startedAt} (${plan.mode} plan, ${num(results.durationSeconds)} s): ${machine.cpus} × ` +
      `${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverageAtStart.map((l) => num(l, 1)).join(" ")} ` +
      `at start${machine.pinned ? ", upstream and load on CPU 0, target on CPU 1" : ", unpinned"}. ` +
      `Medians of ${plan.reps} repetitions (scenario 3: ${plan.paced.reps}); ±N% is half the min–max spread. ` +
      `CPU % is of one core (this machine has ${machine.cpus}); "other CPU %" is what processes outside the ` +
      `benchmark used meanwhile (another job on the machine shows there). ` +
      `Records: ${setup.recordPath} (${num(setup.records.shipped)} shipped, ${num(setup.records.dropped)} dropped ` +
      `at the last check). "Analytics off": ${setup.analyticsOff}. Both run with the proxy image's ` +
      `NODE_OPTIONS=${setup.proxyNodeOptions || "(none)"} (proxy/Dockerfile).`,
  );

  out.push("", "### Targets", "");
  out.push(
    table(
      ["target (issue 7 unless named)", "measured", ""],
      checkTargets(results).map((c) => [c.target, c.measured, mark(c.holds)]),
    ),
  );

  for (const endpoint of results.small) {
    const [one, many] = endpoint.connections;
    const direct = endpoint.targets.direct?.requestsPerSecond.median;
    const nginx = endpoint.targets.nginx?.requestsPerSecond.median;
    out.push(
      "",
      `### 1 · ${endpoint.method} ${endpoint.endpoint}: small non-streaming requests`,
      "",
    );
    out.push(
      table(
        [
          "via",
          `req/s @${many}`,
          "÷ direct",
          "÷ nginx",
          `p50 @${one} (ms)`,
          "added p50",
          `p99 @${one} (ms)`,
          "added p99",
          `p99 @${many} (ms)`,
          "CPU µs/req",
          "CPU %",
          "upstream CPU %",
          "other CPU %",
        ],
        names.flatMap((name) => {
          const f = endpoint.targets[name];
          if (!f) return [];
          const isDirect = name === "direct";
          return [
            [
              label(name),
              withSpread(f.requestsPerSecond),
              ratio(f.requestsPerSecond.median, direct),
              ratio(f.requestsPerSecond.median, nginx),
              ms(f.p50At1Ms, 3),
              isDirect ? "" : signedMs(f.addedP50At1Ms, 3),
              ms(f.p99At1Ms, 3),
              isDirect ? "" : signedMs(f.addedP99At1Ms, 3),
              ms(f.p99AtManyMs),
              isDirect ? "" : num(f.cpuUsPerRequest.median),
              isDirect ? "" : num(f.cpuPercent.median),
              num(f.upstreamCpuPercent.median),
              num(f.otherCpuPercent.median),
            ],
          ];
        }),
      ),
    );
  }

  if (results.stream) {
    const s = results.stream;
    const direct = s.targets.direct?.bytesPerSecond.median;
    const nginx = s.targets.nginx?.bytesPerSecond.median;
    const mb = (summary: Summary): Summary => ({
      ...summary,
      median: summary.median / 1e6,
      min: summary.min / 1e6,
      max: summary.max / 1e6,
    });
    out.push(
      "",
      `### 2 · streaming chat, ${s.tokens} tokens as fast as possible, ${s.connections} connections`,
      "",
    );
    out.push(
      table(
        [
          "via",
          "MB/s",
          "÷ direct",
          "÷ nginx",
          "streams/s",
          "chunks/s",
          "chunks per stream",
          "CPU µs/token",
          "CPU %",
          "upstream CPU %",
          "other CPU %",
        ],
        names.flatMap((name) => {
          const f = s.targets[name];
          if (!f) return [];
          const isDirect = name === "direct";
          return [
            [
              label(name),
              withSpread(mb(f.bytesPerSecond), 1),
              ratio(f.bytesPerSecond.median, direct),
              ratio(f.bytesPerSecond.median, nginx),
              num(f.streamsPerSecond.median),
              num(f.chunksPerSecond.median),
              num(f.chunksPerStream),
              isDirect ? "" : num(f.cpuUsPerToken.median, 1),
              isDirect ? "" : num(f.cpuPercent.median),
              num(f.upstreamCpuPercent.median),
              num(f.otherCpuPercent.median),
            ],
          ];
        }),
      ),
    );
  }

  if (results.paced.length > 0) {
    out.push(
      "",
      `### 3 · concurrent streaming chat at a realistic pace, ${results.plan.paced.streamSeconds} s per stream`,
      "",
      "Added = this target minus direct in the same repetition. Gap = time between consecutive tokens at the " +
        "client; lag = arrival time minus the upstream's `created_at` stamp on the chunk. Load = the stream " +
        "client's CPU; other = processes outside the benchmark.",
      "",
    );
    const rows: string[][] = [];
    for (const level of results.paced) {
      for (const name of names) {
        const f = level.targets[name];
        if (!f) continue;
        const isDirect = name === "direct";
        rows.push([
          `${level.streams} @ ${level.tokensPerSecond} tok/s`,
          label(name),
          ms(f.ttftP50Ms),
          isDirect ? "" : signedMs(f.addedTtftP50Ms),
          ms(f.gapP50Ms),
          isDirect ? "" : signedMs(f.addedGapP50Ms),
          ms(f.gapP99Ms),
          isDirect ? "" : signedMs(f.addedGapP99Ms),
          ms(f.lagP99Ms),
          isDirect ? "" : num(f.rssMaxMb.max),
          isDirect ? "" : num(f.cpuUsPerToken.median, 1),
          isDirect ? "" : num(f.cpuPercent.median),
          num(f.upstreamCpuPercent.median),
          num(f.loadCpuPercent.median),
          num(f.otherCpuPercent.median),
          String(f.broken),
        ]);
      }
    }
    out.push(
      table(
        [
          "streams",
          "via",
          "TTFT p50 (ms)",
          "added",
          "gap p50 (ms)",
          "added",
          "gap p99 (ms)",
          "added",
          "lag p99 (ms)",
          "RSS peak (MB)",
          "CPU µs/token",
          "CPU %",
          "upstream CPU %",
          "load CPU %",
          "other CPU %",
          "broken",
        ],
        rows,
      ),
    );
  }

  if (results.large) {
    const l = results.large;
    const direct = l.targets.direct?.latencyP50Ms.median;
    out.push(
      "",
      `### 4 · large request body: /api/generate with a ${num(l.bodyBytes / 1024 / 1024, 1)} MiB image payload, one connection`,
      "",
    );
    out.push(
      table(
        [
          "via",
          "latency p50 (ms)",
          "added p50 (ms)",
          "÷ direct",
          "max (ms)",
          "CPU ms/req",
          "upstream CPU ms/req",
          "RSS peak (MB)",
        ],
        names.flatMap((name) => {
          const f = l.targets[name];
          if (!f) return [];
          const isDirect = name === "direct";
          return [
            [
              label(name),
              withSpread(f.latencyP50Ms, 1),
              isDirect ? "" : signedMs(f.addedP50Ms, 1),
              ratio(f.latencyP50Ms.median, direct),
              num(f.latencyMaxMs.median, 1),
              isDirect ? "" : num(f.cpuMsPerRequest.median, 1),
              num(f.upstreamCpuMsPerRequest.median, 1),
              isDirect ? "" : num(f.rssMaxMb.max),
            ],
          ];
        }),
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

export async function writeReport(
  results: BenchResults,
  dir: string,
): Promise<{ json: string; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const json = join(dir, "latest.json");
  const markdown = join(dir, "latest.md");
  await writeFile(
    json,
    `${JSON.stringify({ ...results, targets: checkTargets(results) }, null, 2)}\n`,
  );
  await writeFile(
    markdown,
    `# Benchmark: latest results\n\nGenerated by \`npm run bench\` (bench/main.ts); see docs/performance.md.\n\n${renderMarkdown(results)}`,
  );
  return { json, markdown };
}
