// The floor for the proxy's transport (proxy/src/http/transport.ts): node:http server → undici Pool.dispatch with a
// raw handler (no stream objects for the upstream response), hop-by-hop headers dropped. No taps, no metrics.
// BENCH_PORT, BENCH_TARGET.
import http, { type IncomingHttpHeaders } from "node:http";
import { Pool, type Dispatcher } from "undici";

const port = Number(process.env.BENCH_PORT ?? "0");
const target = new URL(process.env.BENCH_TARGET ?? "http://127.0.0.1:11435");
const pool = new Pool(target.origin, {
  connections: null,
  pipelining: 1,
  headersTimeout: 0,
  bodyTimeout: 0,
});
// The transport's hop-by-hop names (http/transport.ts) written out here, not imported: a baseline stays the same
// whatever proxy sources a run measures (--proxy-src). The names a Connection header lists are not looked at: the
// benchmark's clients and upstream send none.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "host",
]);
const endToEnd = (headers: IncomingHttpHeaders) => {
  const out: IncomingHttpHeaders = {};
  for (const name in headers)
    if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
};

const server = http.createServer({ noDelay: true }, (req, res) => {
  const hasBody =
    req.headers["transfer-encoding"] !== undefined ||
    (req.headers["content-length"] ?? "0") !== "0";
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(controller, statusCode, headers, statusMessage) {
      res.writeHead(statusCode, statusMessage, endToEnd(headers));
      res.on("drain", () => controller.resume());
    },
    onResponseData(controller, chunk: Buffer) {
      if (!res.write(chunk)) controller.pause();
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError() {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    },
  };
  pool.dispatch(
    {
      origin: target.origin,
      path: req.url ?? "/",
      method: req.method ?? "GET",
      headers: endToEnd(req.headers),
      body: hasBody ? req : null,
    },
    handler,
  );
});
server.timeout = 0;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  console.log(`undici-pipe listening on http://127.0.0.1:${bound}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  void pool.destroy();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
