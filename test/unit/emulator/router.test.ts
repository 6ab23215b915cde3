import { describe, expect, it } from "vitest";
import { createRouter } from "../../fixtures/ollama-emulator/router.ts";

const match = createRouter([
  { method: "HEAD", pattern: "/", handler: "root" },
  { method: "GET", pattern: "/", handler: "root" },
  { method: "GET", pattern: "/api/tags", handler: "tags" },
  { method: "POST", pattern: "/api/chat", handler: "chat" },
  { method: "HEAD", pattern: "/api/blobs/:digest", handler: "blob" },
  { method: "POST", pattern: "/api/blobs/:digest", handler: "blob" },
  { method: "DELETE", pattern: "/api/delete", handler: "delete" },
]);

describe("router", () => {
  it("matches exact paths and :param segments", () => {
    expect(match("GET", "/api/tags")).toEqual({
      kind: "route",
      handler: "tags",
      params: {},
    });
    expect(match("POST", "/api/blobs/sha256:abc")).toEqual({
      kind: "route",
      handler: "blob",
      params: { digest: "sha256:abc" },
    });
  });

  it("redirects a trailing slash within the method's tree only: 301 for GET, 307 otherwise", () => {
    expect(match("GET", "/api/tags/")).toEqual({
      kind: "redirect",
      status: 301,
      path: "/api/tags",
    });
    expect(match("POST", "/api/chat/")).toEqual({
      kind: "redirect",
      status: 307,
      path: "/api/chat",
    });
    expect(match("POST", "/api/tags/")).toEqual({ kind: "not-found" });
  });

  it("lists the allowed methods in registration order for a 405", () => {
    expect(match("POST", "/")).toEqual({
      kind: "method-not-allowed",
      allow: "HEAD, GET",
    });
    expect(match("GET", "/api/blobs/x")).toEqual({
      kind: "method-not-allowed",
      allow: "HEAD, POST",
    });
    expect(match("PUT", "/api/delete")).toEqual({
      kind: "method-not-allowed",
      allow: "DELETE",
    });
    expect(match("GET", "/api/missing")).toEqual({ kind: "not-found" });
  });
});
