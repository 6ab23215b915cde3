// A minimal HTTP/1.1 response reader for the stream client: headers, Content-Length or chunked bodies, one
// callback per piece of body as it arrives. It counts HTTP chunks, which is how a proxy's writes show on the
// wire (one res.write() = one chunk), something a stock client hides. Keep-alive: responses follow each other.

export interface ResponseEvents {
  onHead(status: number): void;
  /** Body bytes as they arrive; `newChunk` is true for the first bytes of each HTTP chunk. */
  onBody(data: Buffer, newChunk: boolean): void;
  onEnd(): void;
}

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type State = "head" | "length" | "size" | "data" | "data-end" | "trailer";

export class ResponseReader {
  private state: State = "head";
  private pending: Buffer | undefined;
  private remaining = 0;
  private chunkStart = false;
  private readonly events: ResponseEvents;

  constructor(events: ResponseEvents) {
    this.events = events;
  }

  /** True between responses (nothing half-read). */
  get idle(): boolean {
    return this.state === "head" && this.pending === undefined;
  }

  push(input: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, input]) : input;
    this.pending = undefined;
    let pos = 0;
    while (pos < buf.length) {
      switch (this.state) {
        case "head": {
          const end = buf.indexOf(HEAD_END, pos);
          if (end === -1) {
            this.pending = buf.subarray(pos);
            return;
          }
          const head = buf.toString("latin1", pos, end);
          pos = end + 4;
          this.startBody(head);
          break;
        }
        case "length": {
          const take = Math.min(this.remaining, buf.length - pos);
          this.events.onBody(buf.subarray(pos, pos + take), this.chunkStart);
          this.chunkStart = false;
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finish();
          break;
        }
        case "size": {
          const end = buf.indexOf(CRLF, pos);
          if (end === -1) {
            this.pending = buf.subarray(pos);
            return;
          }
          const size = parseInt(buf.toString("latin1", pos, end), 16);
          pos = end + 2;
          if (!Number.isFinite(size)) throw new Error("bad chunk size");
          if (size === 0) {
            this.state = "trailer";
          } else {
            this.remaining = size;
            this.chunkStart = true;
            this.state = "data";
          }
          break;
        }
        case "data": {
          const take = Math.min(this.remaining, buf.length - pos);
          this.events.onBody(buf.subarray(pos, pos + take), this.chunkStart);
          this.chunkStart = false;
          pos += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = "data-end";
          break;
        }
        case "data-end": {
          if (buf.length - pos < 2) {
            this.pending = buf.subarray(pos);
            return;
          }
          pos += 2;
          this.state = "size";
          break;
        }
        case "trailer": {
          const end = buf.indexOf(CRLF, pos);
          if (end === -1) {
            this.pending = buf.subarray(pos);
            return;
          }
          const empty = end === pos;
          pos = end + 2;
          if (empty) this.finish();
          break;
        }
      }
    }
  }

  private startBody(head: string): void {
    const lineEnd = head.indexOf("\r\n");
    const statusLine = lineEnd === -1 ? head : head.slice(0, lineEnd);
    const status = Number(statusLine.split(" ")[1]);
    this.events.onHead(status);
    const lower = head.toLowerCase();
    if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) {
      this.state = "size";
      return;
    }
    const length = /\r\ncontent-length:\s*(\d+)/.exec(lower);
    this.remaining = length ? Number(length[1]) : 0;
    this.chunkStart = true;
    if (this.remaining === 0) this.finish();
    else this.state = "length";
  }

  private finish(): void {
    this.state = "head";
    this.events.onEnd();
  }
}
