// The load generator for what wrk cannot see: per-token timing of streamed responses. Runs in its own process:
//   node bench/stream-client.ts '<job JSON>'   → one JSON result line on stdout.
// "streams": N concurrent NDJSON streams, one connection each, started evenly over rampMs; measures time to
// first token, the gap between consecutive lines, the lag of each chunk behind the upstream's created_at,
// HTTP chunks per stream and broken streams. "sequential": requests one after another on one keep-alive
// connection; measures each request's latency and chunk count.
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { ResponseReader } from "./http-wire.ts";
import { percentiles } from "./stats.ts";

export interface StreamsJob {
  readonly mode: "streams";
  readonly url: string;
  readonly path: string;
  readonly body: string;
  readonly streams: number;
  readonly rampMs: number;
  /** NDJSON lines a complete stream carries (tokens + the done line). */
  readonly expectLines: number;
  readonly timeoutMs: number;
}

export interface SequentialJob {
  readonly mode: "sequential";
  readonly url: string;
  readonly path: string;
  readonly body?: string;
  readonly bodyFile?: string;
  readonly requests: number;
  /** Requests sent first and left out of the result. */
  readonly warmup: number;
  readonly timeoutMs: number;
}

export type Job = StreamsJob | SequentialJob;

export interface Quantiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface StreamsResult {
  readonly mode: "streams";
  readonly streams: number;
  readonly ok: number;
  readonly broken: number;
  readonly brokenReasons: Record<string, number>;
  readonly ttftMs: Quantiles;
  readonly gapMs: Quantiles;
  readonly lagMs: Quantiles;
  readonly chunksPerStream: Quantiles;
  readonly linesPerStream: Quantiles;
  readonly bodyBytes: number;
  readonly wallMs: number;
}

export interface SequentialResult {
  readonly mode: "sequential";
  readonly latencyMs: number[];
  readonly chunks: number[];
  readonly lines: number[];
  readonly bodyBytes: number[];
  readonly statuses: number[];
}

const NEWLINE = 0x0a;
const CREATED_AT = Buffer.from('"created_at":"');
const DONE = Buffer.from('"done":true');

function quantiles(samples: ArrayLike<number>): Quantiles {
  const [p50, p90, p99, max] = percentiles(samples, [50, 90, 99, 100]);
  return {
    p50: p50 ?? Number.NaN,
    p90: p90 ?? Number.NaN,
    p99: p99 ?? Number.NaN,
    max: max ?? Number.NaN,
  };
}

function target(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 80) };
}

function requestHead(
  host: string,
  port: number,
  path: string,
  bodyLength: number,
): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${bodyLength}\r\nConnection: keep-alive\r\n\r\n`
  );
}

/** Epoch ms of Ollama's created_at ("2026-01-02T03:04:05.123456789Z"), NaN if unreadable. */
function createdAtMs(data: Buffer, at: number): number {
  const start = at + CREATED_AT.length;
  const text = data.toString("latin1", start, start + 30);
  const end = text.indexOf("Z");
  if (end < 19) return Number.NaN;
  const whole = Date.parse(`${text.slice(0, 19)}Z`);
  const fraction = text.slice(19, end);
  return whole + (fraction.startsWith(".") ? Number(`0${fraction}`) * 1000 : 0);
}

function countNewlines(data: Buffer): number {
  let count = 0;
  let at = data.indexOf(NEWLINE);
  while (at !== -1) {
    count++;
    at = data.indexOf(NEWLINE, at + 1);
  }
  return count;
}

export function runStreams(job: StreamsJob): Promise<StreamsResult> {
  const { host, port } = target(job.url);
  const body = Buffer.from(job.body);
  const request = Buffer.concat([
    Buffer.from(requestHead(host, port, job.path, body.length)),
    body,
  ]);
  const ttft: number[] = [];
  const gaps: number[] = [];
  const lags: number[] = [];
  const chunkCounts: number[] = [];
  const lineCounts: number[] = [];
  const brokenReasons: Record<string, number> = {};
  let ok = 0;
  let bodyBytes = 0;
  let remaining = job.streams;
  const began = performance.now();
  const origin = performance.timeOrigin;

  return new Promise((resolve) => {
    const settle = (reason: string | undefined) => {
      if (reason === undefined) ok++;
      else brokenReasons[reason] = (brokenReasons[reason] ?? 0) + 1;
      remaining--;
      if (remaining > 0) return;
      resolve({
        mode: "streams",
        streams: job.streams,
        ok,
        broken: job.streams - ok,
        brokenReasons,
        ttftMs: quantiles(ttft),
        gapMs: quantiles(gaps),
        lagMs: quantiles(lags),
        chunksPerStream: quantiles(chunkCounts),
        linesPerStream: quantiles(lineCounts),
        bodyBytes,
        wallMs: performance.now() - began,
      });
    };

    const startStream = () => {
      const started = performance.now();
      let status = 0;
      let lines = 0;
      let chunks = 0;
      let lastLine = 0;
      let sawDone = false;
      let settled = false;
      let now = started;
      const socket: Socket = connect({ host, port, noDelay: true });
      const done = (reason: string | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        chunkCounts.push(chunks);
        lineCounts.push(lines);
        settle(reason);
      };
      const timer = setTimeout(() => done("timeout"), job.timeoutMs);
      const reader = new ResponseReader({
        onHead(code) {
          status = code;
        },
        onBody(data, newChunk) {
          if (newChunk) chunks++;
          bodyBytes += data.length;
          const count = countNewlines(data);
          for (let i = 0; i < count; i++) {
            if (lines === 0) ttft.push(now - started);
            else gaps.push(now - lastLine);
            lastLine = now;
            lines++;
          }
          let at = data.indexOf(CREATED_AT);
          while (at !== -1) {
            const created = createdAtMs(data, at);
            if (Number.isFinite(created)) lags.push(origin + now - created);
            at = data.indexOf(CREATED_AT, at + CREATED_AT.length);
          }
          if (!sawDone && data.includes(DONE)) sawDone = true;
        },
        onEnd() {
          if (status !== 200) done(`status ${status}`);
          else if (!sawDone) done("no done line");
          else if (lines !== job.expectLines) done("missing lines");
          else done(undefined);
        },
      });
      socket.on("connect", () => socket.write(request));
      socket.on("data", (data: Buffer) => {
        now = performance.now();
        try {
          reader.push(data);
        } catch {
          done("bad framing");
        }
      });
      socket.on("error", (error: NodeJS.ErrnoException) =>
        done(error.code ?? "socket error"),
      );
      socket.on("close", () => done("closed early"));
    };

    if (job.streams === 0) {
      remaining = 1;
      settle(undefined);
      return;
    }
    for (let i = 0; i < job.streams; i++) {
      const delay = job.streams > 1 ? (i * job.rampMs) / job.streams : 0;
      setTimeout(startStream, delay);
    }
  });
}

export async function runSequential(
  job: SequentialJob,
): Promise<SequentialResult> {
  const { host, port } = target(job.url);
  const body =
    job.bodyFile !== undefined
      ? readFileSync(job.bodyFile)
      : Buffer.from(job.body ?? "");
  const head = Buffer.from(requestHead(host, port, job.path, body.length));
  const socket = connect({ host, port, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const result: SequentialResult = {
    mode: "sequential",
    latencyMs: [],
    chunks: [],
    lines: [],
    bodyBytes: [],
    statuses: [],
  };
  let onResponse: (() => void) | undefined;
  let status: number;
  let chunks: number;
  let lines: number;
  let bytes: number;
  const reader = new ResponseReader({
    onHead(code) {
      status = code;
    },
    onBody(data, newChunk) {
      if (newChunk) chunks++;
      bytes += data.length;
      lines += countNewlines(data);
    },
    onEnd() {
      onResponse?.();
    },
  });
  socket.on("data", (data: Buffer) => reader.push(data));
  try {
    for (let i = 0; i < job.warmup + job.requests; i++) {
      status = chunks = lines = bytes = 0;
      const started = performance.now();
      const ended = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error("request timed out")),
          job.timeoutMs,
        );
        onResponse = () => {
          clearTimeout(timer);
          resolve();
        };
        socket.once("close", () => reject(new Error("connection closed")));
      });
      socket.write(head);
      socket.write(body);
      await ended;
      socket.removeAllListeners("close");
      if (i < job.warmup) continue;
      result.latencyMs.push(performance.now() - started);
      result.chunks.push(chunks);
      result.lines.push(lines);
      result.bodyBytes.push(bytes);
      result.statuses.push(status);
    }
  } finally {
    socket.destroy();
  }
  return result;
}

export function runJob(job: Job): Promise<StreamsResult | SequentialResult> {
  return job.mode === "streams" ? runStreams(job) : runSequential(job);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const job = JSON.parse(process.argv[2] ?? "{}") as Job;
  runJob(job).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (error: unknown) => {
      process.stderr.write(
        `stream-client: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
