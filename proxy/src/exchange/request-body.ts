// Reads a request body whole, up to a bound: the routes whose JSON the proxy parses (prompts, models, options).
// Bodies it does not read (blob uploads can be gigabytes) never come here; they stream straight through.
import type { IncomingMessage } from "node:http";

export interface BodyHandlers {
  onBody(body: Buffer): void;
  /** Declared or found over the bound; the rest of the body is drained unread. */
  onTooLarge(): void;
  /** The exchange ended while the body arrived (the client left): the body is dropped. */
  isOver(): boolean;
}

export function readBody(
  req: IncomingMessage,
  maxBytes: number,
  handlers: BodyHandlers,
): void {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBytes) {
    handlers.onTooLarge();
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on("data", (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > maxBytes) {
      tooLarge = true;
      chunks.length = 0;
      handlers.onTooLarge();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    if (tooLarge || handlers.isOver()) return;
    handlers.onBody(
      chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
    );
  });
}
