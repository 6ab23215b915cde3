// The floor for any Node proxy: node:http server → http.request on a keep-alive agent → pipe, both ways.
// No http-proxy-3, no taps, no metrics: what is left is Node's own cost. BENCH_PORT, BENCH_TARGET.
import http from "node:http";

const port = Number(process.env.BENCH_PORT ?? "0");
const target = new URL(process.env.BENCH_TARGET ?? "http://127.0.0.1:11435");
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: Infinity,
  maxFreeSockets: 512,
  scheduling: "lifo",
});

const server = http.createServer({ noDelay: true }, (req, res) => {
  const upstream = http.request(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host },
      agent,
    },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
      upstreamRes.pipe(res);
    },
  );
  upstream.setNoDelay(true);
  upstream.on("error", () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  res.on("close", () => {
    if (!res.writableFinished) upstream.destroy();
  });
  req.pipe(upstream);
});
server.timeout = 0;
server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  console.log(`node-pipe listening on http://127.0.0.1:${bound}`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
