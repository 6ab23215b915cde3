// The benchmark's upstream: the Ollama emulator in its own process, with one model per pace so that every
// scenario talks to the same server. Prints "listening on <url>".
import {
  createEmulator,
  type ModelSpec,
} from "../test/fixtures/ollama-emulator/emulator.ts";
import { BENCH_MODELS } from "./scenarios.ts";

// BENCH_UPSTREAM_PORT (0 = any), BENCH_PACES: comma-separated tokens per second of the paced models.
const port = Number(process.env.BENCH_UPSTREAM_PORT ?? "0");
const paces = (process.env.BENCH_PACES ?? "50")
  .split(",")
  .map(Number)
  .filter((pace) => pace > 0);

const models: ModelSpec[] = [
  // Unpaced: tokens as fast as the socket takes them, no first-token delay, no load time.
  { name: BENCH_MODELS.fast, tokensPerSecond: 0, ttftMs: 0, loadMs: 0 },
  // Realistic generation paces for concurrent streams.
  ...paces.map((pace) => ({
    name: BENCH_MODELS.paced(pace),
    tokensPerSecond: pace,
    ttftMs: 0,
    loadMs: 0,
  })),
].map((model) => ({
  ...model,
  capabilities: ["completion", "tools"],
  replyTokens: 8,
}));

const emulator = await createEmulator({ port, models });
console.log(`bench upstream listening on ${emulator.url}`);

const stop = () => void emulator.close().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
