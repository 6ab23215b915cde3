// How the transport names an upstream failure: the reason label of ollama_proxy_upstream_errors_total and what the
// backend pool counts against a server's health. undici reports its own failures with UND_ERR_* codes and the
// socket's with the system's.
import { describe, expect, it } from "vitest";
import { upstreamErrorReason } from "../../../proxy/src/http/transport.ts";

const failure = (code: string) =>
  Object.assign(new Error(code), { code }) as NodeJS.ErrnoException;

describe("upstreamErrorReason", () => {
  it.each([
    ["ECONNREFUSED", "connect"],
    ["ENOTFOUND", "connect"],
    ["EHOSTUNREACH", "connect"],
    ["EAI_AGAIN", "connect"],
    ["UND_ERR_CONNECT_TIMEOUT", "connect"],
    ["ECONNRESET", "reset"],
    ["EPIPE", "reset"],
    ["UND_ERR_SOCKET", "reset"],
    ["UND_ERR_REQ_CONTENT_LENGTH_MISMATCH", "other"],
  ])("%s is %s", (code, reason) => {
    expect(upstreamErrorReason(failure(code), false)).toBe(reason);
  });

  it("names a timeout as such whatever the error says", () => {
    expect(upstreamErrorReason(failure("UND_ERR_HEADERS_TIMEOUT"), true)).toBe(
      "timeout",
    );
    expect(upstreamErrorReason(failure("ECONNRESET"), true)).toBe("timeout");
  });
});
