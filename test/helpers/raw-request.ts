// One HTTP/1.1 request written as raw bytes on its own connection: the request line and headers exactly as
// given (a client library would normalise the path, merge Host headers or refuse them), the answer as text.
import net from "node:net";

export interface RawAnswer {
  readonly status: number;
  /** The header lines as the proxy wrote them (names in its case, repeats kept), without the status line. */
  readonly headerLines: readonly string[];
  readonly requestId: string | undefined;
  readonly body: string;
}

/** `lines` are the request line and the header lines, without CRLFs; `Connection: close` is added. */
export function sendRaw(
  port: number,
  lines: readonly string[],
  body = "",
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    // Written, not ended: a half-closed connection may be closed by the server before it answers.
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write(
        `${[...lines, "Connection: close"].join("\r\n")}\r\n\r\n${body}`,
      );
    });
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const [head = "", rest = ""] = text.split("\r\n\r\n", 2);
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        headerLines: head.split("\r\n").slice(1),
        requestId: /\r\nX-Request-Id: ([^\r]+)/i.exec(head)?.[1],
        body: rest,
      });
    });
  });
}
