// What the benchmark measures (issue 7, scenarios 1-4) and how long: the full plan for `npm run bench`, and a
// quick plan with the same shape for smoke tests. Pure data.

/** The upstream's models: one unpaced, and one per generation pace the plan uses. */
export const BENCH_MODELS = {
  fast: "bench-fast:latest",
  paced: (tokensPerSecond: number) => `bench-paced-${tokensPerSecond}:latest`,
} as const;

export interface PacedLevel {
  readonly streams: number;
  readonly tokensPerSecond: number;
}

/** Durations are whole seconds: wrk takes nothing shorter. */
export interface Plan {
  readonly mode: "full" | "quick";
  /** Measured repetitions of every run; targets take turns within a repetition, in rotating order. */
  readonly reps: number;
  /** Load before the measured repetitions, per target and configuration, left out of the results (0 = none). */
  readonly warmupSeconds: number;
  readonly small: {
    /** Throughput runs, at connections[1]. */
    readonly seconds: number;
    /** Latency runs, at connections[0]. */
    readonly latencySeconds: number;
    readonly connections: readonly [number, number];
    readonly replyTokens: number;
    /**
     * Alternating latency runs of the proxy with tracing off and on (issue 14's side by side): a difference of
     * ~20 µs is far below how much either p50 moves between repetitions minutes apart. 40 pairs: the median
     * difference of two identical proxies then reads 0–3 µs run after run; single pairs spread over tens of µs, so a
     * median of 8 moved by ~±20 µs (the same code read +9 to +36).
     */
    readonly tracingPairs: number;
  };
  readonly stream: {
    readonly seconds: number;
    readonly connections: number;
    readonly tokens: number;
    /** Streams read with the chunk-counting client, per target. */
    readonly checkStreams: number;
  };
  readonly paced: {
    readonly levels: readonly PacedLevel[];
    /** Each stream lasts this long (tokens = pace × seconds), well past the ramp: all streams overlap. */
    readonly streamSeconds: number;
    /** Streams start evenly over this window, as users arrive. */
    readonly rampMs: number;
    readonly reps: number;
  };
  readonly large: {
    readonly bodyBytes: number;
    readonly requests: number;
  };
}

export const FULL_PLAN: Plan = {
  mode: "full",
  reps: 3,
  warmupSeconds: 1,
  small: {
    seconds: 2,
    latencySeconds: 1,
    connections: [1, 32],
    replyTokens: 8,
    tracingPairs: 40,
  },
  stream: { seconds: 2, connections: 8, tokens: 256, checkStreams: 3 },
  paced: {
    // The three levels at 50 tok/s, and 2,000 streams again at a pace this machine can generate
    // and read without the proxy (100k tokens/s saturates two cores before any proxy is involved).
    levels: [
      { streams: 100, tokensPerSecond: 50 },
      { streams: 500, tokensPerSecond: 50 },
      { streams: 2000, tokensPerSecond: 50 },
      { streams: 2000, tokensPerSecond: 10 },
    ],
    streamSeconds: 2,
    rampMs: 500,
    reps: 2,
  },
  large: { bodyBytes: 5 * 1024 * 1024, requests: 3 },
};

export const QUICK_PLAN: Plan = {
  mode: "quick",
  reps: 1,
  warmupSeconds: 0,
  small: {
    seconds: 1,
    latencySeconds: 1,
    connections: [1, 32],
    replyTokens: 8,
    tracingPairs: 2,
  },
  stream: { seconds: 1, connections: 4, tokens: 64, checkStreams: 1 },
  paced: {
    levels: [
      { streams: 10, tokensPerSecond: 50 },
      { streams: 20, tokensPerSecond: 50 },
      { streams: 40, tokensPerSecond: 50 },
      { streams: 40, tokensPerSecond: 10 },
    ],
    streamSeconds: 0.4,
    rampMs: 100,
    reps: 1,
  },
  large: { bodyBytes: 512 * 1024, requests: 1 },
};

export function generateBody(replyTokens: number): string {
  return JSON.stringify({
    model: BENCH_MODELS.fast,
    prompt: "Why is the sky blue?",
    stream: false,
    options: { num_predict: replyTokens },
  });
}

export function chatBody(model: string, tokens: number): string {
  return JSON.stringify({
    model,
    messages: [{ role: "user", content: "Tell me a long story." }],
    stream: true,
    options: { num_predict: tokens },
  });
}

/** A /api/generate body of about `bytes` bytes, nearly all of it one base64 image. */
export function imageBody(bytes: number): string {
  const shell = generateBody(8).length + '"images":[""],'.length;
  const base64Chars = Math.max(4, Math.floor((bytes - shell) / 4) * 4);
  // Deterministic, incompressible-looking bytes: the proxy must not be able to shortcut them.
  const raw = Buffer.alloc((base64Chars / 4) * 3);
  let x = 2463534242;
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = x & 0xff;
  }
  return JSON.stringify({
    model: BENCH_MODELS.fast,
    prompt: "What is in this picture?",
    stream: false,
    images: [raw.toString("base64")],
    options: { num_predict: 8 },
  });
}
