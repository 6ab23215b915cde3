// The finished exchange the microbenchmarks feed to what they measure: a successful, non-streamed request to the
// bench model through the default backend, as the owner hands it to its finish hooks. Each benchmark sets what
// it is about (route, request, response tap, trace ids, timings).
import type { ExchangeSummary } from "../../proxy/src/exchange/outcome.ts";

type ItsOwn = Pick<ExchangeSummary, "route" | "request" | "tap">;

export function benchSummary(
  fields: ItsOwn & Partial<ExchangeSummary>,
): ExchangeSummary {
  return {
    requestId: "3f0c1c8e-1111-4222-8333-944455556666",
    path: fields.route.endpoint,
    method: "POST",
    startedAtMs: Date.now(),
    durationSeconds: 0.012,
    ttftSeconds: undefined,
    status: 200,
    statusLabel: "200",
    outcome: "ok",
    error: undefined,
    rejectReason: undefined,
    model: "bench-fast:latest",
    modelLabel: "bench-fast:latest",
    backend: "default",
    serverAddress: "127.0.0.1",
    serverPort: 11435,
    requestBytes: 120,
    responseBytes: 400,
    clientIp: "127.0.0.1",
    userAgent: "wrk",
    client: "",
    ...fields,
  };
}
