// Where a proxy's CPU goes, thread by thread: our proxy with tracing off and on (100 %), wrk at one connection on
// one endpoint, in alternating rounds; prints each thread kind's CPU per request (Linux /proc ticks): the request
// thread, the analytics thread, V8's helper threads (parallel and concurrent GC, compilation) and the rest.
// Issue 14's p50 pairs say how much tracing costs a request; this says which thread does the work.
//   node bench/thread-cpu.ts [--endpoint /api/generate] [--rounds 6] [--seconds 5]
//                            [--proxy-src DIR] [--proxy-env K=V,...]
import { readdirSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseProxyEnv, startProxyStack, type Target } from "./targets.ts";
import { endpointRequest, runWrk } from "./wrk.ts";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: "/api/generate" },
    rounds: { type: "string", default: "6" },
    seconds: { type: "string", default: "5" },
    "proxy-src": { type: "string" },
    "proxy-env": { type: "string", default: "" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
if (!(rounds >= 1 && seconds >= 1)) {
  process.stderr.write(
    "thread-cpu: --rounds and --seconds are whole numbers ≥ 1\n",
  );
  process.exit(2);
}
let proxyEnv: Record<string, string> = {};
try {
  proxyEnv = parseProxyEnv(values["proxy-env"]);
} catch (error) {
  process.stderr.write(`thread-cpu: ${(error as Error).message}\n`);
  process.exit(2);
}

/** Clock ticks (1/100 s) per thread kind of a process, from /proc/<pid>/task/<tid>/{comm,stat}. */
function ticksByThread(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      // utime and stime are fields 14 and 15; the name in parentheses may hold spaces.
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const kind = comm.startsWith("V8")
        ? "V8 helpers"
        : comm === "MainThread"
          ? "request thread"
          : comm;
      ticks.set(
        kind,
        (ticks.get(kind) ?? 0) + Number(fields[11]) + Number(fields[12]),
      );
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return ticks;
}

const stack = await startProxyStack(["proxy", "proxy-traced"], {
  proxySrc: values["proxy-src"],
  proxyEnv,
});
const request = await endpointRequest(values.endpoint);
try {
  const totals = new Map<
    string,
    { ticks: Map<string, number>; requests: number; p50s: number[] }
  >();
  for (let round = 0; round < rounds; round++) {
    // Alternating which runs first, as the p50 pairs do.
    const order: Target[] =
      round % 2 === 0 ? [...stack.targets] : [...stack.targets].reverse();
    for (const target of order) {
      const pid = target.pids[0]!;
      const before = ticksByThread(pid);
      const result = await runWrk({
        url: `${target.url}${values.endpoint}`,
        connections: 1,
        seconds,
        ...request.options,
      });
      // The analytics thread finishes the run's records and spans (batches of ≤ 100 ms) before the count.
      await new Promise((done) => setTimeout(done, 300));
      const after = ticksByThread(pid);
      const total = totals.get(target.name) ?? {
        ticks: new Map<string, number>(),
        requests: 0,
        p50s: [] as number[],
      };
      for (const [kind, ticks] of after)
        total.ticks.set(
          kind,
          (total.ticks.get(kind) ?? 0) + ticks - (before.get(kind) ?? 0),
        );
      total.requests += result.requests;
      total.p50s.push(result.latencyMs.p50 * 1000);
      totals.set(target.name, total);
    }
  }
  console.log(
    `${values.endpoint}, wrk -c1, ${rounds} × ${seconds} s per target; CPU µs per request by thread (10 ms ticks)`,
  );
  for (const [name, total] of totals) {
    const threads = [...total.ticks]
      .filter(([, ticks]) => ticks > 0)
      .map(
        ([kind, ticks]) =>
          `${kind} ${((ticks * 10_000) / total.requests).toFixed(1)}`,
      )
      .join(", ");
    const p50s = total.p50s.map((p50) => p50.toFixed(0)).join(" ");
    console.log(
      `${name}: ${total.requests} requests, p50 µs by round ${p50s}; ${threads}`,
    );
  }
} finally {
  await stack.close();
  await request.remove();
}
