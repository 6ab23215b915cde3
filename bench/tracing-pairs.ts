// Issue 14's side by side for latency: the proxy with tracing off and on, measured in back-to-back pairs at one
// connection. A ~20 µs difference is far below how much either p50 moves between repetitions minutes apart.
import type { Plan } from "./scenarios.ts";
import { summarize, type Summary } from "./stats.ts";
import type { Stack, Target } from "./targets.ts";
import type { WrkAgainst } from "./wrk.ts";

/** What it needs of the run (scenario-runs.ts's RunContext). */
export interface PairsContext {
  readonly plan: Plan;
  readonly stack: Stack;
  readonly log: (line: string) => void;
  readonly wrk: WrkAgainst;
}

/** Issue 14's side by side: the p50 of tracing on minus off, from back-to-back runs at one connection. */
export async function tracingPairs(
  ctx: PairsContext,
  endpoint: string,
  bodyFile: string | undefined,
): Promise<Summary | undefined> {
  const { plan, stack, log, wrk } = ctx;
  const off = stack.targets.find((t) => t.name === "proxy");
  const on = stack.targets.find((t) => t.name === "proxy-traced");
  if (!off || !on) return undefined;
  const p50 = async (target: Target) =>
    (
      await wrk(
        target,
        endpoint,
        plan.small.connections[0],
        plan.small.latencySeconds,
        bodyFile,
      )
    ).latencyMs.p50;
  const differences: number[] = [];
  for (let pair = 0; pair < plan.small.tracingPairs; pair++) {
    // Alternating which runs first, so that neither always meets the machine as the other left it.
    let offMs: number;
    let onMs: number;
    if (pair % 2 === 0) {
      offMs = await p50(off);
      onMs = await p50(on);
    } else {
      onMs = await p50(on);
      offMs = await p50(off);
    }
    differences.push(onMs - offMs);
  }
  const added = summarize(differences);
  log(
    `  tracing on − off, p50 @${plan.small.connections[0]}: median ${(added.median * 1000).toFixed(0)} µs over ${differences.length} pairs`,
  );
  return added;
}
