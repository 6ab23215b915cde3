// Prometheus' HTTP API, the way a dashboard reads it: instant queries and scrape targets.

interface QueryAnswer {
  status: string;
  error?: string;
  data: {
    resultType: string;
    result: { metric: Record<string, string>; value: [number, string] }[];
  };
}

/** The value of a one-sample instant query; undefined when it has no sample (no series yet). */
export async function instantValue(
  prometheusUrl: string,
  promql: string,
): Promise<number | undefined> {
  const response = await fetch(
    `${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: promql }).toString()}`,
    { signal: AbortSignal.timeout(15_000) },
  );
  const answer = (await response.json()) as QueryAnswer;
  if (answer.status !== "success")
    throw new Error(
      `Prometheus: ${answer.error ?? response.status} for ${promql}`,
    );
  const { result } = answer.data;
  if (result.length === 0) return undefined;
  if (result.length > 1)
    throw new Error(`${promql} returned ${result.length} series, expected one`);
  return Number(result[0]?.value[1]);
}

/** Health of every active scrape target, by job. */
export async function targetHealth(
  prometheusUrl: string,
): Promise<Record<string, string>> {
  const response = await fetch(`${prometheusUrl}/api/v1/targets?state=active`, {
    signal: AbortSignal.timeout(15_000),
  });
  const answer = (await response.json()) as {
    data: {
      activeTargets: { labels: Record<string, string>; health: string }[];
    };
  };
  return Object.fromEntries(
    answer.data.activeTargets.map((t) => [t.labels.job ?? "?", t.health]),
  );
}
