// Microbenchmark: CPU per request of the record path in process, without delivery: request metrics
// (recordExchange), the analytics record (recorder.record: redaction, category, JSON line) and each piece alone.
//   node bench/micro/record-cost.ts
import { Registry } from "prom-client";
import { benchSummary } from "./exchange-summary.ts";
import { time as timeEach } from "./timing.ts";
import pino from "pino";
import { loadConfig } from "../../proxy/src/config.ts";
import { createMetrics } from "../../proxy/src/metrics/definitions.ts";
import { recordExchange } from "../../proxy/src/metrics/record.ts";
import {
  createRecorder,
  recordOptionsFrom,
} from "../../proxy/src/records/recorder.ts";
import { buildRecord, toEnvelope } from "../../proxy/src/records/record.ts";
import { categorizePrompt } from "../../proxy/src/records/category.ts";
import { createResponseTap } from "../../proxy/src/upstream/response-tap.ts";
import { matchRoute } from "../../proxy/src/upstream/routes.ts";
import {
  describeRequest,
  parseJsonObject,
} from "../../proxy/src/upstream/request.ts";
import type { ExchangeSummary } from "../../proxy/src/exchange/outcome.ts";

const config = loadConfig({ LOKI_URL: "http://127.0.0.1:1" });
const metrics = createMetrics(new Registry());
const logger = pino({ level: "silent" });
const recorder = createRecorder(config, {
  metrics,
  logger,
  enqueue: () => undefined,
  categorize: categorizePrompt,
});
const options = recordOptionsFrom(config, { categorize: categorizePrompt });
const words = [
  "The",
  " sky",
  " is",
  " blue",
  " because",
  " of",
  " Rayleigh",
  " scattering",
  ".",
];

function summary(path: string, body: object, tokens: number): ExchangeSummary {
  const route = matchRoute("POST", path);
  const request = describeRequest(
    route,
    parseJsonObject(Buffer.from(JSON.stringify(body))),
    8192,
  );
  const tap = createResponseTap({
    route,
    contentType: "application/x-ndjson",
    maxPreviewChars: 8192,
    maxJsonBytes: 1 << 22,
    onFirstOutput: () => undefined,
  });
  for (let i = 0; i < tokens; i++)
    tap.push(
      Buffer.from(
        `{"model":"bench-fast","created_at":"2026-01-01T00:00:00.1Z","message":{"role":"assistant","content":"${words[i % words.length]}"},"done":false}\n`,
      ),
    );
  tap.push(
    Buffer.from(
      `{"model":"bench-fast","created_at":"2026-01-01T00:00:00.2Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":7800000,"load_duration":1000000,"prompt_eval_count":13,"prompt_eval_duration":1300000,"eval_count":${tokens},"eval_duration":5000000}\n`,
    ),
  );
  tap.end();
  return benchSummary({
    route,
    request,
    ttftSeconds: 0.002,
    tap: tap.result(),
    responseBytes: 4000,
  });
}
const chat = summary(
  "/api/chat",
  {
    model: "bench-fast",
    messages: [
      {
        role: "user",
        content: "Why is the sky blue? Explain it to a child, with an example.",
      },
    ],
  },
  100,
);
const small = summary(
  "/api/chat",
  {
    model: "bench-fast",
    messages: [{ role: "user", content: "Why is the sky blue?" }],
  },
  8,
);

/** record-cost's calls are costlier: fewer iterations per run. */
const time = (name: string, fn: () => void) => timeEach(name, fn, 20_000);
const mo = { clientLabel: false, clientLabelOf: () => "" };
for (const [label, s] of [
  ["8-token chat", small],
  ["100-token chat", chat],
] as const) {
  console.log(
    `-- ${label}: prompt ${s.request.prompt.length} chars, response ${s.tap?.response.length} chars`,
  );
  time("recordExchange (request metrics)", () =>
    recordExchange(metrics, s, mo),
  );
  time("recorder.record (analytics record, no delivery)", () =>
    recorder.record(s),
  );
  time("  categorizePrompt", () => categorizePrompt(s.request.prompt));
  time("  redact prompt + response", () => {
    options.redact(s.request.prompt);
    options.redact(s.tap?.response ?? "");
  });
  time("  buildRecord + toEnvelope", () =>
    toEnvelope(buildRecord(s, options), options.maxLineBytes),
  );
}
