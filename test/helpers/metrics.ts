// Reads a Prometheus text exposition into samples, so tests assert on what a scraper would see.
import { waitFor } from "./wait-for.ts";

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) {
      labels[key!] = value!
        .replace(/\\n/g, "\n")
        .replace(/\\"/g, '"')
        .replace(/\\\\/g, "\\");
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

export async function scrape(baseUrl: string): Promise<Sample[]> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  return parseExposition(await response.text());
}

/** Sum of the samples named `name` whose labels include `labels` (0 when none match). */
export function sumOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter(
      (s) =>
        s.name === name &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    )
    .reduce((total, s) => total + s.value, 0);
}

/**
 * Waits until the proxy at `baseUrl` has polled `backend` once, whole: its installed and loaded models are what
 * routing sees (ollama_upstream_up turns 1 only after both lists are read).
 */
export async function untilPolled(
  baseUrl: string,
  backend: string,
): Promise<void> {
  await waitFor(
    async () =>
      sumOf(await scrape(baseUrl), "ollama_upstream_up", { backend }) === 1,
    { timeoutMs: 5000, message: `the first poll of ${backend} did not end` },
  );
}
