// Do records keep up when the proxy's machine is saturated? Our proxy (Redis outbox → fake Loki), wrk at many
// connections, and optionally processes that spin at normal priority on every core (as a CPU-bound Ollama on the
// same host does); prints the analytics backlog and the records dropped every 5 s, then the counts once the
// backlog has drained. The analytics thread's scheduling (records/analytics-worker.ts) is chosen on this.
//   node bench/records-under-load.ts [--endpoint /api/tags] [--connections 64] [--seconds 30] [--hogs N]
//                                    [--proxy-src DIR] [--proxy-env K=V,...]
// --hogs defaults to 0; `--hogs 2` on a 2-core machine leaves the proxy's threads only what the scheduler gives them.
import { spawn, type ChildProcess } from "node:child_process";
import { parseArgs } from "node:util";
import { sampleLines } from "./shipped-proxy.ts";
import { parseProxyEnv, startProxyStack } from "./targets.ts";
import { endpointRequest, runWrk } from "./wrk.ts";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: "/api/tags" },
    connections: { type: "string", default: "64" },
    seconds: { type: "string", default: "30" },
    hogs: { type: "string", default: "0" },
    "proxy-src": { type: "string" },
    "proxy-env": { type: "string", default: "" },
  },
});

function fail(message: string): never {
  process.stderr.write(`records-under-load: ${message}\n`);
  process.exit(2);
}

const connections = Number(values.connections);
const seconds = Number(values.seconds);
const hogs = Number(values.hogs);
if (!(Number.isInteger(connections) && connections >= 1))
  fail("--connections is a whole number ≥ 1");
if (!(Number.isInteger(seconds) && seconds >= 1))
  fail("--seconds is a whole number ≥ 1");
if (!(Number.isInteger(hogs) && hogs >= 0))
  fail("--hogs is a whole number ≥ 0");
let proxyEnv: Record<string, string> = {};
try {
  proxyEnv = parseProxyEnv(values["proxy-env"]);
} catch (error) {
  fail((error as Error).message);
}

/** The samples of `name`, as `labels value` strings. */
const labelsAndValues = (text: string, name: string) =>
  sampleLines(text, name).map((line) => line.slice(name.length).trim());

const stack = await startProxyStack(["proxy"], {
  proxySrc: values["proxy-src"],
  proxyEnv,
});
const request = await endpointRequest(values.endpoint);
const spinners: ChildProcess[] = [];
try {
  const proxy = stack.targets[0]!;
  for (let i = 0; i < hogs; i++)
    spinners.push(
      spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
    );
  const startedAt = Date.now();
  const report = async () => {
    const text = await (await fetch(`${proxy.url}/metrics`)).text();
    const backlog = labelsAndValues(
      text,
      "ollama_proxy_analytics_backlog",
    ).join(" ");
    const dropped = labelsAndValues(text, "ollama_proxy_records_dropped_total")
      .filter((sample) => !sample.endsWith(" 0"))
      .join(", ");
    console.log(
      `${((Date.now() - startedAt) / 1000).toFixed(0)} s: backlog ${backlog}; dropped ${dropped || "none"}`,
    );
  };
  const poll = setInterval(() => void report().catch(() => undefined), 5000);
  const result = await runWrk({
    url: `${proxy.url}${values.endpoint}`,
    connections,
    seconds,
    ...request.options,
  });
  clearInterval(poll);
  for (const spinner of spinners.splice(0)) spinner.kill("SIGKILL");
  console.log(
    `${values.endpoint}, wrk -c${connections} for ${seconds} s with ${hogs} spinning processes: ${Math.round(result.requestsPerSecond)} req/s`,
  );
  await report();
  console.log(await stack.settleRecords("proxy", 120_000));
} finally {
  for (const spinner of spinners) spinner.kill("SIGKILL");
  await stack.close();
  await request.remove();
}
