// Background traffic for the resilience checks: a few concurrent users sending small requests through the proxy
// with the official clients until stopped. Requests the proxy answered (it sent an X-Request-Id) are kept: each
// must end up with a record. Requests that never reached it (connection refused while it restarts) are counted.
import {
  sendRequest,
  type CaseRequest,
  type Models,
  type Observed,
} from "./cases.ts";

const MIX: readonly CaseRequest[] = [
  { client: "ollama", op: "chat", model: "chat", stream: true },
  { client: "ollama", op: "generate", model: "chat", stream: false },
  { client: "openai", op: "chat", model: "chat", stream: true },
  { client: "ollama", op: "embed", model: "embed" },
];

export interface Traffic {
  /** Stops after the requests in flight finish; resolves with what was sent. */
  stop(): Promise<TrafficResult>;
  /** Answered requests so far. */
  readonly answered: number;
}

export interface TrafficResult {
  answered: Observed[];
  /** Requests that failed without an answer from the proxy (no X-Request-Id), with their first error. */
  unanswered: number;
  firstError?: string;
}

export function startTraffic(
  proxyUrl: string,
  models: Models,
  users = 3,
  pauseMs = 100,
): Traffic {
  const answered: Observed[] = [];
  let unanswered = 0;
  let firstError: string | undefined;
  let running = true;
  const worker = async (offset: number) => {
    for (let i = offset; running; i++) {
      const request = MIX[i % MIX.length] as CaseRequest;
      try {
        answered.push(await sendRequest(proxyUrl, request, models));
      } catch (error) {
        unanswered++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const workers = Array.from({ length: users }, (_, i) => worker(i));
  return {
    get answered() {
      return answered.length;
    },
    async stop() {
      running = false;
      await Promise.all(workers);
      return { answered, unanswered, firstError };
    },
  };
}
