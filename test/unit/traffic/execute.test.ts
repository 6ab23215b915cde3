import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { classifyError } from "../../../tools/traffic/execute.ts";

/** What ollama-js throws on an HTTP error (its ResponseError is not exported). */
const responseError = (message: string, status: number) =>
  Object.assign(new Error(message), {
    name: "ResponseError",
    status_code: status,
  });

const fetchFailed = (code: string) =>
  new TypeError("fetch failed", {
    cause: Object.assign(new Error(`connect ${code} 127.0.0.1:11434`), {
      code,
    }),
  });

describe("classifyError", () => {
  it("reads HTTP statuses from either client", () => {
    expect(
      classifyError(responseError("model 'x' not found", 404), false).error,
    ).toBe("model_not_found");
    expect(classifyError(responseError("bad request", 400), false).error).toBe(
      "http_4xx",
    );
    expect(classifyError(responseError("server busy", 503), false).error).toBe(
      "http_5xx",
    );
    const apiError = OpenAI.APIError.generate(
      404,
      { error: { message: "model not found" } },
      undefined,
      new Headers(),
    );
    expect(classifyError(apiError, false).error).toBe("model_not_found");
  });

  it("calls a refused connection unreachable and names the cause", () => {
    const classified = classifyError(fetchFailed("ECONNREFUSED"), false);
    expect(classified.error).toBe("unreachable");
    expect(classified.message).toBe(
      "fetch failed (connect ECONNREFUSED 127.0.0.1:11434)",
    );
    expect(
      classifyError(
        new OpenAI.APIConnectionError({ message: "Connection error." }),
        false,
      ).error,
    ).toBe("unreachable");
  });

  it("calls a connection lost mid-answer a stream error", () => {
    expect(classifyError(fetchFailed("ECONNRESET"), true).error).toBe(
      "stream_error",
    );
    expect(classifyError(new Error("boom"), true).error).toBe("stream_error");
    expect(
      classifyError(
        new Error("Did not receive done or success response in stream."),
        false,
      ).error,
    ).toBe("stream_error");
  });

  it("recognises the SDK's own timeout", () => {
    expect(
      classifyError(new OpenAI.APIConnectionTimeoutError(), false).error,
    ).toBe("timeout");
  });

  it("falls back to other", () => {
    expect(classifyError("a string", false)).toEqual({
      error: "other",
      message: "a string",
    });
  });
});
