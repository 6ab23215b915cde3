// Probe: how Node frames what a proxy writes. An upstream sends 257 HTTP chunks (one NDJSON line each) in one
// socket write; a bare Node pipe (`http.get` → `res.write` per 'data' event) forwards them; a raw client counts the
// chunks it receives. Node 24.21 framed each `res.write` as its own chunk (257); from 24.22 the writes of one tick
// share one chunk (1), whatever the proxy does per write. docs/performance.md, "Chunk framing on Node 24.22".
//   node bench/micro/chunk-framing.ts
import http from "node:http";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { ResponseReader } from "../http-wire.ts";

const LINES = 257;

function chunkedBody(lines: number): string {
  let body = "";
  for (let i = 0; i < lines; i++) {
    const line = `${JSON.stringify({ response: "tok", index: i })}\n`;
    body += `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`;
  }
  return `${body}0\r\n\r\n`;
}

const upstream = net.createServer((socket) => {
  socket.once("data", () => {
    socket.end(
      "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n" +
        `Connection: close\r\n\r\n${chunkedBody(LINES)}`,
    );
  });
});
upstream.listen(0, "127.0.0.1");
await once(upstream, "listening");

let dataEvents = 0;
const proxy = http.createServer((_req, res) => {
  const { port } = upstream.address() as AddressInfo;
  http.get({ host: "127.0.0.1", port, path: "/" }, (upstreamRes) => {
    res.writeHead(upstreamRes.statusCode ?? 502, {
      "content-type": "application/x-ndjson",
    });
    upstreamRes.on("data", (data: Buffer) => {
      dataEvents++;
      res.write(data);
    });
    upstreamRes.on("end", () => res.end());
  });
});
proxy.listen(0, "127.0.0.1");
await once(proxy, "listening");

// The client counts chunks as the benchmark's stream client does (bench/http-wire.ts).
let chunks = 0;
const reader = new ResponseReader({
  onHead() {},
  onBody(_data, newChunk) {
    if (newChunk) chunks++;
  },
  onEnd() {},
});
const client = net.connect((proxy.address() as AddressInfo).port, "127.0.0.1");
client.write("GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");
client.on("data", (data: Buffer) => reader.push(data));
await once(client, "end");
console.log(
  `node ${process.version}: upstream sent ${LINES} chunks, the proxy got ${dataEvents} 'data' events and made as ` +
    `many res.write() calls, the client received ${chunks} chunks`,
);
proxy.close();
upstream.close();
