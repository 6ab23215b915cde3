// Microbenchmark: CPU per line of the response tap over a chat stream shaped like the emulator's (NDJSON, SSE, and
// SSE in strip mode).   node bench/micro/tap-cost.ts [tokens]
import { createResponseTap } from "../../proxy/src/upstream/response-tap.ts";
import { matchRoute } from "../../proxy/src/upstream/routes.ts";

const N = Number(process.argv[2] ?? 256);
const words = [
  "most",
  " fix",
  " scatters",
  " rise",
  " experience",
  " the",
  " sky",
  " is",
  " blue",
  " because",
];
function chatLine(i: number, done: boolean): string {
  const t = new Date(1_795_464_344_000 + i)
    .toISOString()
    .replace("Z", "713867Z");
  if (done)
    return `{"model":"bench-fast","created_at":"${t}","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":7800000,"load_duration":1000000,"prompt_eval_count":13,"prompt_eval_duration":1300000,"eval_count":${N},"eval_duration":5000000}\n`;
  return `{"model":"bench-fast","created_at":"${t}","message":{"role":"assistant","content":"${words[i % words.length]}"},"done":false}\n`;
}
const chunks: Buffer[] = [];
for (let i = 0; i < N; i++) chunks.push(Buffer.from(chatLine(i, false)));
chunks.push(Buffer.from(chatLine(N, true)));
const route = matchRoute("POST", "/api/chat");
const sseChunks: Buffer[] = [];
for (let i = 0; i < N; i++)
  sseChunks.push(
    Buffer.from(
      `data: {"id":"chatcmpl-763","object":"chat.completion.chunk","created":1795464344,"model":"bench","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"content":"${words[i % words.length]}"},"finish_reason":null}]}\n\n`,
    ),
  );
sseChunks.push(
  Buffer.from(
    `data: {"id":"chatcmpl-763","object":"chat.completion.chunk","created":1795464344,"model":"bench","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n`,
  ),
);
sseChunks.push(
  Buffer.from(
    `data: {"id":"chatcmpl-763","object":"chat.completion.chunk","created":1795464344,"model":"bench","system_fingerprint":"fp_ollama","choices":[],"usage":{"prompt_tokens":13,"completion_tokens":${N},"total_tokens":${N + 13}}}\n\ndata: [DONE]\n\n`,
  ),
);
const v1 = matchRoute("POST", "/v1/chat/completions");

function run(kind: "ndjson" | "sse" | "strip", iterations: number): number {
  const t0 = performance.now();
  let sink = 0;
  for (let k = 0; k < iterations; k++) {
    const tap = createResponseTap({
      route: kind === "ndjson" ? route : v1,
      contentType:
        kind === "ndjson" ? "application/x-ndjson" : "text/event-stream",
      maxPreviewChars: 8192,
      maxJsonBytes: 4 << 20,
      onFirstOutput: () => {
        sink++;
      },
    });
    if (kind === "strip")
      for (const c of sseChunks) sink += tap.pushAndStrip(c).length;
    else for (const c of kind === "ndjson" ? chunks : sseChunks) tap.push(c);
    tap.end();
    sink += tap.result().responseChars;
  }
  const ms = performance.now() - t0;
  if (sink === 42) console.log("");
  return (ms * 1000) / (iterations * (N + 1));
}
for (const kind of ["ndjson", "sse", "strip"] as const) {
  run(kind, 300); // warm-up
  const samples = [run(kind, 600), run(kind, 600), run(kind, 600)].sort(
    (a, b) => a - b,
  );
  console.log(
    `${kind}: ${samples[1]!.toFixed(3)} µs per line (min ${samples[0]!.toFixed(3)})`,
  );
}
