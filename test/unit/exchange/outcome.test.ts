import { describe, expect, it } from "vitest";
import { decideOutcome, type OutcomeInput } from "@proxy/exchange/outcome.ts";
import type { TapResult } from "@proxy/upstream/response-tap.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";

const chat = matchRoute("POST", "/api/chat");
const tags = matchRoute("GET", "/api/tags");

const tap = (overrides: Partial<TapResult> = {}): TapResult => ({
  framing: "ndjson",
  response: "",
  responseChars: 0,
  usage: {},
  doneReason: "stop",
  done: true,
  error: undefined,
  model: undefined,
  parseErrors: 0,
  ...overrides,
});

const input = (overrides: Partial<OutcomeInput>): OutcomeInput => ({
  ending: { kind: "completed" },
  status: 200,
  responseFinished: true,
  streamed: true,
  route: chat,
  tap: tap(),
  ...overrides,
});

describe("decideOutcome", () => {
  it("is ok for a complete stream", () => {
    expect(decideOutcome(input({}))).toEqual({
      outcome: "ok",
      statusLabel: "200",
      error: undefined,
    });
  });

  it("labels an error line after a 200 as stream_error", () => {
    const result = decideOutcome(
      input({ tap: tap({ done: false, error: "runner died" }) }),
    );
    expect(result).toEqual({
      outcome: "stream_error",
      statusLabel: "stream_error",
      error: "runner died",
    });
  });

  it("labels a stream that ended without its done line as stream_error", () => {
    const result = decideOutcome(input({ tap: tap({ done: false }) }));
    expect(result.outcome).toBe("stream_error");
    expect(result.statusLabel).toBe("stream_error");
  });

  it("keeps Ollama's own error status for failures before the stream", () => {
    const result = decideOutcome(
      input({
        status: 404,
        tap: tap({ done: false, error: "model 'x' not found" }),
      }),
    );
    expect(result).toEqual({
      outcome: "upstream_error",
      statusLabel: "404",
      error: "model 'x' not found",
    });
  });

  it("reports a client that left before any response as 499 client_aborted", () => {
    const result = decideOutcome(
      input({
        ending: { kind: "client_closed" },
        status: undefined,
        responseFinished: false,
        tap: undefined,
      }),
    );
    expect(result.outcome).toBe("client_aborted");
    expect(result.statusLabel).toBe("499");
  });

  it("keeps the status of a stream the client abandoned midway", () => {
    const result = decideOutcome(
      input({
        ending: { kind: "client_closed" },
        responseFinished: false,
        tap: tap({ done: false }),
      }),
    );
    expect(result).toMatchObject({
      outcome: "client_aborted",
      statusLabel: "200",
    });
  });

  it("passes rejections and proxy faults through with their status", () => {
    expect(
      decideOutcome(
        input({
          ending: {
            kind: "rejected",
            status: 413,
            error: "too big",
            reason: "body_too_large",
          },
        }),
      ),
    ).toEqual({ outcome: "rejected", statusLabel: "413", error: "too big" });
    expect(
      decideOutcome(
        input({
          ending: { kind: "upstream_failed", status: 502, error: "refused" },
        }),
      ),
    ).toEqual({
      outcome: "upstream_error",
      statusLabel: "502",
      error: "refused",
    });
  });

  it("does not expect a done line from routes that do not generate", () => {
    expect(decideOutcome(input({ route: tags, tap: undefined })).outcome).toBe(
      "ok",
    );
  });
});
