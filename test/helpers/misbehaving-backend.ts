// A backend that answers the proxy's polls like an Ollama holding `models` (all loaded), and resets or leaves
// unanswered every other request: a failure only the traffic can find, never the poll.
import http from "node:http";
import type { AddressInfo } from "node:net";

export type Misbehaviour = "reset" | "silent";

export interface MisbehavingBackend {
  readonly url: string;
  close(): void;
}

export async function startMisbehavingBackend(
  mode: Misbehaviour,
  models: readonly string[] = [],
): Promise<MisbehavingBackend> {
  const listed = { models: models.map((name) => ({ name, model: name })) };
  const polls: Record<string, unknown> = {
    "/api/version": { version: "0.33.3" },
    "/api/tags": listed,
    "/api/ps": listed,
  };
  const server = http.createServer((req, res) => {
    const answer = polls[req.url ?? ""];
    if (req.method === "GET" && answer !== undefined) {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(answer));
    } else if (mode === "reset") req.socket.resetAndDestroy();
    // silent: the request is read and never answered.
    else req.resume();
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve()),
  );
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
