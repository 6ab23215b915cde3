// Microbenchmark: CPU of choosing a backend for one request (issue 15's "a few µs"), in process: the ranking over
// 1, 3 and 8 backends for a model loaded on some, installed on others, and one no backend has; and the pool's
// whole choice (ranking plus its bookkeeping) at 8.
//   node bench/micro/routing-cost.ts
import pino from "pino";
import { Registry } from "prom-client";
import {
  newBackendState,
  type BackendState,
} from "../../proxy/src/backends/health.ts";
import { createBackendPool } from "../../proxy/src/backends/pool.ts";
import { rankBackends } from "../../proxy/src/backends/routing.ts";
import { createMetrics } from "../../proxy/src/metrics/definitions.ts";
import { createModelAllowList } from "../../proxy/src/metrics/model-label.ts";
import { time as timeEach } from "./timing.ts";

const MODELS = Array.from({ length: 40 }, (_, i) => `model-${i}:latest`);

/** `count` backends with 40 models installed each and the asked-for model loaded on every third. */
function fleet(count: number): BackendState[] {
  return Array.from({ length: count }, (_, i) => {
    const state = newBackendState({
      name: `gpu${i}`,
      url: `http://gpu${i}.lan:11434`,
      weight: 1 + (i % 2),
      maxConcurrent: 32,
    });
    state.up = true;
    state.models = new Set(MODELS);
    state.loadedSince = new Map(
      i % 3 === 0 ? [["model-7:latest", Date.now() - 60_000]] : [],
    );
    state.inFlight = (i * 7) % 5;
    return state;
  });
}

let turn = 0;
for (const count of [1, 3, 8]) {
  const states = fleet(count);
  timeEach(
    `rankBackends: ${count} backend(s), model loaded on some`,
    () =>
      rankBackends(states, {
        model: "model-7:latest",
        nowMs: Date.now(),
        turn: turn++,
      }),
    200_000,
  );
}
const eight = fleet(8);
timeEach(
  "rankBackends: 8 backends, a model none has (404)",
  () =>
    rankBackends(eight, { model: "nope:latest", nowMs: Date.now(), turn: 0 }),
  200_000,
);

// The pool's choice as the owner calls it (its pollers point nowhere and are closed at once).
const pool = createBackendPool(
  {
    backends: Array.from({ length: 8 }, (_, i) => ({
      name: `gpu${i}`,
      url: `http://127.0.0.1:9/${i}`,
      weight: 1,
      maxConcurrent: undefined,
    })),
    idleTimeoutMs: 0,
    pollIntervalMs: 3_600_000,
    pollTimeoutMs: 1,
  },
  {
    metrics: createMetrics(new Registry(), { clientLabel: false }),
    models: createModelAllowList(),
    logger: pino({ level: "silent" }),
  },
);
for (const [i, backend] of pool.backends.entries()) {
  backend.state.up = true;
  backend.state.models = new Set(MODELS);
  if (i % 3 === 0) backend.state.loadedSince = new Map([["model-7:latest", 0]]);
}
timeEach(
  "pool.choose: 8 backends (ranking + bookkeeping)",
  () => pool.choose("model-7:latest"),
  200_000,
);
pool.close();
