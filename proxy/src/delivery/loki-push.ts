// Loki push API: builds the JSON payload and performs one POST, classifying the answer for the shipper.
// No retries, no metrics, no logging here (the shipper owns those).
// Wire format and status semantics: Loki docs, reference/api.md "Ingest logs" and reference/observability.md §2.3.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { text } from "node:stream/consumers";

/** One entry of a push body: its nanosecond timestamp and its line already escaped as a JSON string literal. */
export interface PushLine {
  /** Unix epoch in nanoseconds, as a decimal string (Loki's JSON push format). */
  readonly tsNs: string;
  /** `JSON.stringify(line)`, as text or as its UTF-8 bytes (StoredRecord.json): copied into the body as it is. */
  readonly json: string | Buffer;
}

/**
 * Milliseconds (possibly fractional) → nanosecond decimal string. Deterministic for a given input, so a record
 * re-pushed after a crash carries the same timestamp and Loki de-duplicates it.
 */
export function timeMsToNs(timeMs: number): string {
  if (!Number.isFinite(timeMs) || timeMs < 0) return "0";
  return (BigInt(Math.round(timeMs * 1000)) * 1000n).toString();
}

/** Orders two non-negative decimal integer strings (no leading zeros) numerically. */
export function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Loki's JSON push body for one label set (the shipper's records all share one), entries sorted by time; entries
 * with equal timestamps keep their input order. Loki accepts unordered writes, but sorted input is cheaper for it.
 * Written into one Buffer from the escaped lines rather than JSON.stringify of an object tree, which would escape
 * every line again; lines that are bytes are copied, never decoded.
 */
export function buildPushBody(
  labels: Readonly<Record<string, string>>,
  lines: readonly PushLine[],
): Buffer {
  // Array.prototype.sort is stable (ES2019); a batch taken in stream order is usually sorted already.
  const sorted = lines.every(
    (line, i) =>
      i === 0 || compareNs((lines[i - 1] as PushLine).tsNs, line.tsNs) <= 0,
  )
    ? lines
    : [...lines].sort((x, y) => compareNs(x.tsNs, y.tsNs));
  const head = `{"streams":[{"stream":${JSON.stringify(labels)},"values":[`;
  const tail = "]}]}";
  let size = Buffer.byteLength(head) + tail.length;
  for (const line of sorted) size += entryPayloadBytes(line);
  // entryPayloadBytes counts a separator after every entry; the last one has none.
  if (sorted.length > 0) size -= 1;
  const body = Buffer.allocUnsafe(size);
  let at = body.write(head);
  let before = '["';
  for (const line of sorted) {
    // Timestamps are digits only: one byte per character.
    at += body.write(`${before}${line.tsNs}",`, at, "latin1");
    at +=
      typeof line.json === "string"
        ? body.write(line.json, at)
        : line.json.copy(body, at);
    before = '],["';
  }
  if (sorted.length > 0) at += body.write("]", at, "latin1");
  body.write(tail, at, "latin1");
  return body;
}

/**
 * Bytes one entry adds to the JSON body: the escaped line, the timestamp and the `["…",…],` punctuation. Used for
 * the batch byte bound (batchMaxBytes), which is about request size, so it counts escaping.
 */
export function entryPayloadBytes(line: PushLine): number {
  const jsonBytes =
    typeof line.json === "string"
      ? Buffer.byteLength(line.json)
      : line.json.length;
  return jsonBytes + line.tsNs.length + 6;
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns milliseconds to wait (≥ 0), or
 * undefined when absent or unparseable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === "") return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date always names the weekday or month in letters; bare numbers like "1.5" are not dates.
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * Sum of "total ignored: N out of M" in a Loki 400 body (the ingester's per-stream summary), or undefined when the
 * body does not say how many entries were refused.
 */
export function parseIgnoredCount(body: string): number | undefined {
  let total: number | undefined;
  for (const match of body.matchAll(/total ignored: (\d+) out of (\d+)/g)) {
    total = (total ?? 0) + Number(match[1]);
  }
  return total;
}

export type PushOutcome =
  | { kind: "ok"; status: number }
  /** Loki stored the valid part of the request and refused the rest: never resend (§2.3). */
  | { kind: "rejected"; status: number; reason: string }
  /** 413: the request body is over the distributor's limit; split the batch. */
  | { kind: "too_large"; status: number; reason: string }
  /** Network error, timeout, 429, 5xx, or any other answer that may succeed later. */
  | {
      kind: "retry";
      status: number | undefined;
      reason: string;
      retryAfterMs: number | undefined;
    };

/**
 * 2xx: ok. 400: rejected (partial accept, never resent). 413: too large. Everything else is retried: 429 and 5xx
 * by Loki's rules, and 401/403/404 too because they mean a misconfigured URL or credential, and dropping records
 * for that would lose them all; they stay in the outbox until the configuration is fixed.
 */
export function classifyPushResponse(
  status: number,
  body: string,
  retryAfter: string | null,
  nowMs: number,
): PushOutcome {
  if (status >= 200 && status < 300) return { kind: "ok", status };
  const reason = body.trim().slice(0, 2000) || `HTTP ${status}`;
  if (status === 400) return { kind: "rejected", status, reason };
  if (status === 413) return { kind: "too_large", status, reason };
  return {
    kind: "retry",
    status,
    reason,
    retryAfterMs: parseRetryAfter(retryAfter, nowMs),
  };
}

export interface PushRequest {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  timeoutMs: number;
  /** Aborts the request early (shutdown). */
  signal?: AbortSignal;
}

/** Full push URL for a Loki base URL (with or without a trailing slash or path prefix). */
export function lokiPushUrl(lokiUrl: string): string {
  return new URL(
    "loki/api/v1/push",
    lokiUrl.endsWith("/") ? lokiUrl : `${lokiUrl}/`,
  ).href;
}

/**
 * One POST to Loki's push API. Never throws: network errors and timeouts become `retry` outcomes.
 *
 * Sent with `node:http(s)` (keep-alive global agents) rather than `fetch`: fetch copies a Buffer body twice on its
 * way to the socket (the Fetch standard's copy of the bytes, then web streams' chunk clone), ~1 MB each per full
 * batch; here the body is written as it is (docs/performance.md, "Pushing to Loki without fetch").
 */
export async function pushToLoki(request: PushRequest): Promise<PushOutcome> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal =
    request.signal === undefined
      ? timeout
      : AbortSignal.any([timeout, request.signal]);
  try {
    const response = await post(request, signal);
    // Always read the body so the keep-alive socket is released.
    const body = await text(response);
    return classifyPushResponse(
      response.statusCode ?? 0,
      body,
      response.headers["retry-after"] ?? null,
      Date.now(),
    );
  } catch (error) {
    const reason = timeout.aborted
      ? `timeout after ${request.timeoutMs} ms`
      : request.signal?.aborted
        ? "aborted"
        : describeError(error);
    return {
      kind: "retry",
      status: undefined,
      reason,
      retryAfterMs: undefined,
    };
  }
}

/** Sends the request; resolves with the response once its head arrived. `signal` aborts either part. */
function post(
  request: PushRequest,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  const url = new URL(request.url);
  const send = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = send(
      url,
      {
        method: "POST",
        headers: {
          ...request.headers,
          "Content-Type": "application/json",
          "Content-Length": request.body.length,
        },
        signal,
      },
      resolve,
    );
    outgoing.on("error", reject);
    outgoing.end(request.body);
  });
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) return `${error.message}: ${cause.message}`;
    return error.message;
  }
  return String(error);
}
