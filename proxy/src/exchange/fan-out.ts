// The answers the proxy assembles from several backends: the lists merged into one Ollama's (/api/tags, /api/ps,
// /v1/models, /api/version), and model management run on every healthy backend with one outcome — a pull's
// progress is one stream whose bars reach 100 % when every backend has the layer, and a failure names the
// backends that failed.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createInterface } from "node:readline";
import {
  BackendIdleTimeout,
  readBackendBody,
  requestBackend,
} from "../backends/backend-request.ts";
import { mergeReads, type MergedRead } from "../backends/merge.ts";
import type { Backend, BackendPool } from "../backends/pool.ts";
import { sendError } from "../errors.ts";
import { upstreamErrorReason } from "../http/transport.ts";
import { canResend, type Dispatch } from "./dispatch.ts";
import type { Exchange } from "./state.ts";

const MAX_LIST_BYTES = 16 * 1024 * 1024;
const MAX_ANSWER_BYTES = 1024 * 1024;

export interface FanOutOptions {
  /** A list read gives up on a backend after this long. */
  readonly readTimeoutMs: number;
  /** Idle time allowed between a backend's bytes in management (UPSTREAM_TIMEOUT_MS; 0 = none). */
  readonly idleTimeoutMs: number;
}

function targetsOf(pool: BackendPool): Backend[] {
  const healthy = pool.healthy();
  // With every backend out, ask them all: the health view may be stale, and the client learns who failed.
  return healthy.length > 0 ? healthy : [...pool.backends];
}

function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(error);
}

function write(
  res: ServerResponse,
  ex: Exchange,
  status: number,
  headers: Record<string, string>,
  body: string,
  head: boolean,
): void {
  ex.status = status;
  const length = Buffer.byteLength(body);
  res.writeHead(status, { ...headers, "Content-Length": String(length) });
  res.end(head ? undefined : body);
  if (!head) ex.responseBytes += length;
}

type Answer =
  | { readonly backend: Backend; readonly body: unknown }
  | { readonly backend: Backend; readonly error: string };

async function gather(
  targets: readonly Backend[],
  path: string,
  options: FanOutOptions,
): Promise<Answer[]> {
  return Promise.all(
    targets.map(async (backend): Promise<Answer> => {
      try {
        const upstream = await requestBackend(backend, {
          method: "GET",
          path,
          headers: { accept: "application/json" },
          idleTimeoutMs: options.readTimeoutMs,
          signal: AbortSignal.timeout(options.readTimeoutMs),
        });
        const body = await readBackendBody(upstream, MAX_LIST_BYTES);
        if (upstream.statusCode !== 200)
          throw new Error(`answered ${upstream.statusCode}`);
        return { backend, body: JSON.parse(body.toString("utf8")) as unknown };
      } catch (error) {
        return { backend, error: reasonOf(error) };
      }
    }),
  );
}

/**
 * Reads of one list that arrive while one is under way share its answers: a dashboard or a client polling
 * /api/tags with many connections costs the backends one read at a time, not one per connection.
 */
const readsInFlight = new WeakMap<
  BackendPool,
  Map<string, Promise<Answer[]>>
>();

function sharedGather(
  pool: BackendPool,
  targets: readonly Backend[],
  path: string,
  options: FanOutOptions,
): Promise<Answer[]> {
  let reads = readsInFlight.get(pool);
  if (!reads) {
    reads = new Map();
    readsInFlight.set(pool, reads);
  }
  const key = `${targets.map((b) => b.name).join(",")} ${path}`;
  const running = reads.get(key);
  if (running) return running;
  const read = gather(targets, path, options).finally(() => reads.delete(key));
  reads.set(key, read);
  return read;
}

/** /api/tags, /api/ps, /v1/models or /api/version from every healthy backend, merged. */
export async function answerMerged(
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  pool: BackendPool,
  read: MergedRead,
  options: FanOutOptions,
): Promise<void> {
  const targets = targetsOf(pool);
  const answers = await sharedGather(pool, targets, ex.path, options);
  const failed = answers.filter((a) => "error" in a);
  if (failed.length === answers.length) {
    const detail = failed.map((a) => `${a.backend.name}: ${a.error}`);
    ex.ending = {
      kind: "upstream_failed",
      status: 502,
      error: `no backend answered ${ex.path} (${detail.join("; ")})`,
    };
    ex.status = 502;
    ex.responseBytes += sendError(res, ex.route.api, 502, ex.ending.error);
    return;
  }
  const merged = mergeReads(
    read,
    answers.flatMap((a) => ("body" in a ? [a.body] : [])),
  );
  const headers: Record<string, string> = {
    "Content-Type": "application/json; charset=utf-8",
  };
  // The backends whose models are not in this answer: out of the rotation, or failing to answer now.
  const missing = [
    ...pool.backends.filter((b) => !targets.includes(b)),
    ...failed.map((a) => a.backend),
  ];
  if (missing.length > 0)
    headers["X-Ollama-Backends-Missing"] = missing.map((b) => b.name).join(",");
  write(res, ex, 200, headers, JSON.stringify(merged), req.method === "HEAD");
}

interface Outcome {
  readonly backend: Backend;
  readonly status: number;
  /** The backend's error message; undefined when it succeeded. */
  readonly error?: string;
  readonly body?: Buffer;
  readonly contentType?: string;
}

/** Ollama's error text in a body, or the body itself, short. */
function errorTextOf(body: Buffer): string {
  const text = body.toString("utf8").trim();
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: the text says it
  }
  return text.slice(0, 200) || "no answer";
}

/** Progress lines of every backend's stream, merged: per layer the least complete backend's count. */
function createProgressMerge(backends: readonly Backend[]) {
  const perLayer = new Map<string, Map<Backend, number>>();
  const statuses = new Set<string>();
  return (
    backend: Backend,
    line: Record<string, unknown>,
  ): string | undefined => {
    const status = typeof line.status === "string" ? line.status : "";
    const digest = typeof line.digest === "string" ? line.digest : undefined;
    if (status === "success") return undefined;
    if (digest === undefined) {
      if (statuses.has(status)) return undefined;
      statuses.add(status);
      return JSON.stringify(line);
    }
    const layer = perLayer.get(digest) ?? new Map<Backend, number>();
    perLayer.set(digest, layer);
    const completed = typeof line.completed === "number" ? line.completed : 0;
    layer.set(backend, completed);
    const least = Math.min(...backends.map((b) => layer.get(b) ?? 0));
    return JSON.stringify({ ...line, completed: least });
  };
}

/** Model management on every healthy backend: one answer, the failed backends named. */
export async function fanOut(
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  pool: BackendPool,
  body: Buffer | undefined,
  options: FanOutOptions,
): Promise<void> {
  const targets = targetsOf(pool);
  const streamed = ex.route.readsBody && ex.request.stream;
  const merge = createProgressMerge(targets);
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  let started = false;
  const startStream = () => {
    if (started) return;
    started = true;
    ex.status = 200;
    res.writeHead(200, { "Content-Type": "application/x-ndjson" });
  };
  const emit = (text: string) => {
    startStream();
    const line = `${text}\n`;
    ex.responseBytes += Buffer.byteLength(line);
    res.write(line);
  };

  const runOne = async (backend: Backend): Promise<Outcome> => {
    try {
      const upstream = await requestBackend(backend, {
        method: req.method ?? "POST",
        path: req.url ?? ex.path,
        headers: req.headers,
        body: body ?? (canResend(req, undefined) ? undefined : req),
        idleTimeoutMs: options.idleTimeoutMs,
        signal: abort.signal,
      });
      const status = upstream.statusCode ?? 502;
      const contentType = upstream.headers["content-type"];
      if (!streamed || status !== 200 || !contentType?.includes("ndjson")) {
        const answer = await readBackendBody(upstream, MAX_ANSWER_BYTES);
        return status < 400
          ? { backend, status, body: answer, contentType }
          : { backend, status, error: errorTextOf(answer) };
      }
      let error: string | undefined;
      for await (const line of createInterface({
        input: upstream,
        crlfDelay: Infinity,
      })) {
        if (line.trim() === "") continue;
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (typeof parsed.error === "string") {
          error = parsed.error;
          break;
        }
        const merged = merge(backend, parsed);
        if (merged !== undefined) emit(merged);
      }
      return error === undefined
        ? { backend, status }
        : { backend, status: 500, error };
    } catch (error) {
      // Judged as forwarding judges a failure; the client leaving aborts every request and says nothing.
      const reason = upstreamErrorReason(
        error as NodeJS.ErrnoException,
        error instanceof BackendIdleTimeout,
      );
      if (!abort.signal.aborted && reason !== "other")
        pool.failed(backend, reason);
      return { backend, status: 502, error: reasonOf(error) };
    }
  };

  const outcomes = await Promise.all(targets.map(runOne));
  if (res.destroyed) return;
  const failed = outcomes.filter((o) => o.error !== undefined);
  const summary =
    failed.length === 0
      ? undefined
      : `${ex.route.op} failed on ${failed.map((o) => `${o.backend.name} (${o.error})`).join(", ")}` +
        (failed.length < outcomes.length
          ? `; it succeeded on ${outcomes
              .filter((o) => o.error === undefined)
              .map((o) => o.backend.name)
              .join(", ")}`
          : "");
  if (started) {
    // The status line is out: the outcome is the stream's last line, as Ollama ends a pull.
    emit(summary ? JSON.stringify({ error: summary }) : '{"status":"success"}');
    if (summary)
      ex.ending = { kind: "upstream_failed", status: 200, error: summary };
    res.end();
    return;
  }
  if (summary) {
    const status = failed[0]?.status ?? 502;
    ex.ending = { kind: "upstream_failed", status, error: summary };
    ex.status = status;
    ex.responseBytes += sendError(res, ex.route.api, status, summary);
    return;
  }
  const first = outcomes[0] as Outcome;
  const answer = first.body?.toString("utf8") ?? "";
  const headers: Record<string, string> = first.contentType
    ? { "Content-Type": first.contentType }
    : {};
  write(res, ex, first.status, headers, answer, req.method === "HEAD");
}

/** The answer of a plan that concerns every backend: a merged list, or management on each. */
export function answerFromAll(
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
  pool: BackendPool,
  body: Buffer | undefined,
  plan: Extract<Dispatch, { kind: "merge" | "fan_out" }>,
  options: FanOutOptions,
): Promise<void> {
  return plan.kind === "merge"
    ? answerMerged(req, res, ex, pool, plan.read, options)
    : fanOut(req, res, ex, pool, body, options);
}
