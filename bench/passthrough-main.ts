// Issue 13's yardstick: a bare http-proxy-3 pass-through, no taps, no body reads, no metrics, with the server and
// keep-alive agent settings the proxy's transport had when it forwarded through http-proxy-3 (it now uses undici:
// bench/undici-pipe-main.ts is that floor). BENCH_PORT, BENCH_TARGET; BENCH_AGENT=none drops the keep-alive agent
// (http-proxy-3's default: a new upstream connection per request).
import http from "node:http";
import { createProxyServer } from "http-proxy-3";

const port = Number(process.env.BENCH_PORT ?? "0");
const target = process.env.BENCH_TARGET ?? "http://127.0.0.1:11435";
const agent =
  process.env.BENCH_AGENT === "none"
    ? undefined
    : new http.Agent({
        keepAlive: true,
        maxSockets: Infinity,
        maxFreeSockets: 512,
        scheduling: "lifo",
      });

const proxy = createProxyServer({
  target,
  agent,
  changeOrigin: true,
  xfwd: false,
  preserveHeaderKeyCase: true,
});
proxy.on("proxyReq", (proxyReq) => proxyReq.setNoDelay?.(true));

const server = http.createServer({ noDelay: true }, (req, res) => {
  proxy.web(req, res, {}, () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
});
server.timeout = 0;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  console.log(`passthrough listening on http://127.0.0.1:${bound}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  agent?.destroy();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
