// Finds the proxy's analytics records (one JSON line per request) in Loki by request_id. Against a real Loki
// that is LogQL over query_range. Offline the loki image is the fake push receiver, which has no query engine:
// its inspection endpoint (GET /__fake/entries) lists what it accepted, and identical entries (same labels,
// timestamp and line, as a re-push after a crash produces) are collapsed the way Loki de-duplicates them.

export type AnalyticsRecord = Record<string, unknown> & { request_id: string };

export interface RecordSource {
  readonly kind: "loki" | "fake-loki";
  /**
   * Every record of each id (several only if Loki kept more than one distinct line). `logqlFor` gives the
   * per-request LogQL to run against a real Loki; without it one selector query fetches the whole window.
   */
  find(
    ids: readonly string[],
    logqlFor?: (requestId: string) => string,
  ): Promise<Map<string, AnalyticsRecord[]>>;
}

export interface RecordSourceOptions {
  lokiUrl: string;
  kind: "loki" | "fake-loki";
  /** Stream labels of the records: {service_name, log_type, env}. */
  selector: Readonly<Record<string, string>>;
  /** Start of the query window (ms since the epoch). */
  sinceMs: number;
}

interface FakeEntry {
  labels: Record<string, string>;
  tsNs: string;
  line: string;
}

interface QueryRangeAnswer {
  status: string;
  data: {
    result: { stream: Record<string, string>; values: [string, string][] }[];
  };
}

function parseRecord(line: string): AnalyticsRecord | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    if (
      typeof value === "object" &&
      value !== null &&
      typeof (value as { request_id?: unknown }).request_id === "string"
    )
      return value as AnalyticsRecord;
  } catch {
    // not a record line
  }
  return undefined;
}

function group(
  ids: readonly string[],
  records: Iterable<AnalyticsRecord>,
): Map<string, AnalyticsRecord[]> {
  const wanted = new Set(ids);
  const byId = new Map<string, AnalyticsRecord[]>(ids.map((id) => [id, []]));
  for (const record of records)
    if (wanted.has(record.request_id))
      byId.get(record.request_id)?.push(record);
  return byId;
}

export function createRecordSource(options: RecordSourceOptions): RecordSource {
  const selectorText = `{${Object.entries(options.selector)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ")}}`;

  async function queryRange(logql: string): Promise<AnalyticsRecord[]> {
    const params = new URLSearchParams({
      query: logql,
      start: `${BigInt(options.sinceMs - 60_000) * 1_000_000n}`,
      end: `${BigInt(Date.now() + 60_000) * 1_000_000n}`,
      limit: "10000",
      direction: "forward",
    });
    const response = await fetch(
      `${options.lokiUrl}/loki/api/v1/query_range?${params.toString()}`,
      { signal: AbortSignal.timeout(30_000) },
    );
    if (!response.ok)
      throw new Error(
        `Loki query_range ${response.status}: ${await response.text()}`,
      );
    const answer = (await response.json()) as QueryRangeAnswer;
    return answer.data.result.flatMap((stream) =>
      stream.values.flatMap(([, line]) => parseRecord(line) ?? []),
    );
  }

  return {
    kind: options.kind,
    async find(ids, logqlFor) {
      if (options.kind === "loki") {
        if (logqlFor === undefined)
          return group(ids, await queryRange(selectorText));
        const all: AnalyticsRecord[] = [];
        for (const id of ids) all.push(...(await queryRange(logqlFor(id))));
        return group(ids, all);
      }
      const response = await fetch(`${options.lokiUrl}/__fake/entries`, {
        signal: AbortSignal.timeout(30_000),
      });
      if (!response.ok)
        throw new Error(`fake Loki /__fake/entries ${response.status}`);
      const { entries } = (await response.json()) as { entries: FakeEntry[] };
      const seen = new Set<string>();
      const records: AnalyticsRecord[] = [];
      for (const entry of entries) {
        const matches = Object.entries(options.selector).every(
          ([k, v]) => entry.labels[k] === v,
        );
        if (!matches) continue;
        const key = `${JSON.stringify(Object.entries(entry.labels).sort())}\u0000${entry.tsNs}\u0000${entry.line}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const record = parseRecord(entry.line);
        if (record) records.push(record);
      }
      return group(ids, records);
    },
  };
}
