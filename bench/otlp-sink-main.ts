// A collector's OTLP/HTTP port for the benchmark: accepts POST /v1/traces with 200 and discards the spans, as a
// collector that keeps up would. BENCH_OTLP_PORT. GET /count answers the spans' bytes received so far.
import http from "node:http";

const port = Number(process.env.BENCH_OTLP_PORT ?? "4318");
let bytes = 0;
let exports = 0;
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/count") {
    res.end(JSON.stringify({ bytes, exports }));
    return;
  }
  req.on("data", (chunk: Buffer) => (bytes += chunk.length));
  req.on("end", () => {
    exports++;
    res.writeHead(200, { "Content-Type": "application/x-protobuf" }).end();
  });
});
server.listen(port, "127.0.0.1", () =>
  console.log(`otlp sink listening on http://127.0.0.1:${port}`),
);
const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
