// The `loki` command of the grafana/loki stand-in image. It runs the project's fake Loki push receiver
// (fake-loki.ts, which validates pushes as Loki's distributor does) on a loopback port and fronts it on Loki's
// port with what a real Loki adds around it:
// - persistence: every stored entry is appended to <data>/entries.ndjson and pushed back into the fake on start,
//   so stopping and starting the container keeps them (the stack test stops Loki under traffic);
// - GET /ready (503 until the replay is done) and `loki -health`, which compose's healthcheck runs;
// - GET /metrics with a few loki_* series for Prometheus' scrape;
// - the fake's inspection endpoints, GET /__fake/entries and friends, which the stack test reads instead of
//   LogQL (a real query engine is not available offline).
// Flags: -health, -version, -config.file=<path> (only server.http_listen_port is read), others ignored.
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import path from "node:path";
import {
  createFakeLoki,
  type FakeLokiEntry,
} from "../../../fixtures/fake-loki.ts";

const args = process.argv.slice(2);
const flag = (name: string) =>
  args.some((a) => a === `-${name}` || a === `--${name}`);
const option = (name: string) =>
  args
    .find((a) => a.startsWith(`-${name}=`) || a.startsWith(`--${name}=`))
    ?.split("=")
    .slice(1)
    .join("=");

function listenPort(): number {
  const file = option("config.file");
  if (file === undefined) return 3100;
  try {
    const match = /http_listen_port:\s*(\d+)/.exec(readFileSync(file, "utf8"));
    return match ? Number(match[1]) : 3100;
  } catch {
    return 3100;
  }
}

const port = listenPort();

if (flag("version")) {
  console.log("loki, version 3.7.x-stand-in (fake Loki push receiver)");
  process.exit(0);
}

if (flag("health")) {
  // Loki 3.7's -health asks its own /ready.
  const ok = await fetch(`http://127.0.0.1:${port}/ready`, {
    signal: AbortSignal.timeout(4000),
  }).then(
    (r) => r.ok,
    () => false,
  );
  process.exit(ok ? 0 : 1);
}

const dataDir = process.env.LOKI_STAND_IN_DATA ?? "/loki";
const journal = path.join(dataDir, "entries.ndjson");
mkdirSync(dataDir, { recursive: true });

const fake = await createFakeLoki({ host: "127.0.0.1", port: 0 });
let persisted = 0;
let ready = false;

/** Appends the entries stored since the last call (the fake stores in arrival order). */
function persistNew(): void {
  const all = fake.entries();
  if (all.length <= persisted) return;
  const lines = all
    .slice(persisted)
    .map((e) =>
      JSON.stringify({ labels: e.labels, tsNs: e.tsNs, line: e.line }),
    );
  appendFileSync(journal, `${lines.join("\n")}\n`);
  persisted = all.length;
}

async function replay(): Promise<number> {
  let text: string;
  try {
    text = readFileSync(journal, "utf8");
  } catch {
    return 0;
  }
  const entries = text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Omit<FakeLokiEntry, "parsed">);
  for (let i = 0; i < entries.length; i += 500) {
    const streams = entries.slice(i, i + 500).map((e) => ({
      stream: e.labels,
      values: [[e.tsNs, e.line]],
    }));
    const response = await fetch(`${fake.url}/loki/api/v1/push`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ streams }),
    });
    if (!response.ok)
      console.error(
        `loki stand-in: replay push answered ${response.status}: ${await response.text()}`,
      );
  }
  persisted = fake.entries().length;
  return entries.length;
}

function metrics(): string {
  const byStatus = new Map<number, number>();
  for (const p of fake.pushes)
    byStatus.set(p.status, (byStatus.get(p.status) ?? 0) + 1);
  const rejected = fake.pushes.reduce(
    (n, p) => n + (p.entries - p.accepted),
    0,
  );
  return [
    "# HELP loki_build_info Stand-in for Loki's build info.",
    "# TYPE loki_build_info gauge",
    'loki_build_info{version="3.7.x-stand-in"} 1',
    "# HELP loki_distributor_lines_received_total Lines stored by the stand-in.",
    "# TYPE loki_distributor_lines_received_total counter",
    `loki_distributor_lines_received_total ${fake.entries().length}`,
    "# HELP loki_discarded_samples_total Lines the stand-in refused.",
    "# TYPE loki_discarded_samples_total counter",
    `loki_discarded_samples_total{reason="validation"} ${rejected}`,
    "# HELP loki_stand_in_push_requests_total Push requests by answer status.",
    "# TYPE loki_stand_in_push_requests_total counter",
    ...[...byStatus].map(
      ([status, n]) =>
        `loki_stand_in_push_requests_total{status="${status}"} ${n}`,
    ),
    "",
  ].join("\n");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Passes the request to the fake; a refused connection (its "down" mode) drops the client's connection too. */
async function forward(
  req: IncomingMessage,
  res: ServerResponse,
  pathAndQuery: string,
): Promise<void> {
  const body = await readBody(req);
  const headers: Record<string, string> = {};
  for (const name of [
    "content-type",
    "content-encoding",
    "x-scope-orgid",
    "authorization",
  ]) {
    const value = req.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  let upstream: Response;
  try {
    upstream = await fetch(`${fake.url}${pathAndQuery}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
  } catch {
    res.destroy();
    return;
  }
  const answer = Buffer.from(await upstream.arrayBuffer());
  if (pathAndQuery.startsWith("/loki/api/v1/push")) persistNew();
  if (pathAndQuery.startsWith("/__fake/reset")) {
    writeFileSync(journal, "");
    persisted = 0;
  }
  const out: Record<string, string> = {};
  for (const name of ["content-type", "retry-after"]) {
    const value = upstream.headers.get(name);
    if (value !== null) out[name] = value;
  }
  res.writeHead(upstream.status, out);
  res.end(answer);
}

const server = createServer((req, res) => {
  const url = req.url ?? "/";
  const pathname = url.split("?")[0];
  if (req.method === "GET" && pathname === "/ready") {
    res.writeHead(ready ? 200 : 503, { "Content-Type": "text/plain" });
    res.end(ready ? "ready\n" : "Ingester not ready: replaying\n");
    return;
  }
  if (req.method === "GET" && pathname === "/metrics") {
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    res.end(metrics());
    return;
  }
  forward(req, res, url).catch((error: unknown) => {
    console.error(`loki stand-in: ${String(error)}`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});

await new Promise<void>((resolve) => server.listen(port, "0.0.0.0", resolve));
const replayed = await replay();
ready = true;
console.log(
  `loki stand-in listening on 0.0.0.0:${port} (fake Loki at ${fake.url}); ${replayed} entries replayed from ${journal}`,
);

const shutdown = () => {
  server.close();
  server.closeAllConnections();
  void fake.close().then(() => process.exit(0));
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
