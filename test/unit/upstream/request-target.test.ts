import { describe, expect, it } from "vitest";
import {
  apiFamilyOf,
  overrideHeaderOf,
  parseRequestTarget,
} from "@proxy/upstream/request-target.ts";
import { caseVariantOf } from "@proxy/upstream/routes.ts";

describe("parseRequestTarget", () => {
  it.each([
    ["/", "/"],
    ["/api/tags", "/api/tags"],
    ["/api/tags?x=1&y=%2F..%5C", "/api/tags"],
    ["/v1/models/llama3.2:latest", "/v1/models/llama3.2:latest"],
    // Reserved characters stay encoded in the raw path; Ollama routes their decoded form, as we decide on it.
    ["/v1/models/llama3.2%3Alatest", "/v1/models/llama3.2:latest"],
    ["/v1/models/caf%C3%A9", "/v1/models/café"],
    [
      `/api/blobs/sha256:${"0".repeat(64)}`,
      `/api/blobs/sha256:${"0".repeat(64)}`,
    ],
  ])("accepts the canonical %s and decides on %s", (raw, path) => {
    expect(parseRequestTarget(raw)).toEqual({
      ok: true,
      path,
      originForm: raw,
    });
  });

  it("reads absolute-form targets: path for routing, authority for Host, origin-form for forwarding", () => {
    expect(parseRequestTarget("http://localhost:11434/api/tags?x=1")).toEqual({
      ok: true,
      path: "/api/tags",
      originForm: "/api/tags?x=1",
      authority: "localhost:11434",
    });
    expect(parseRequestTarget("HTTP://example")).toMatchObject({
      ok: true,
      path: "/",
      authority: "example",
    });
    expect(parseRequestTarget("http://u:p@example/").ok).toBe(false);
  });

  it.each([
    ["*", "starting with /"],
    ["api/pull", "starting with /"],
    ["/api%2Fpull", "changes how the path is read"],
    ["/api%2fpull", "changes how the path is read"],
    ["/api%5Cpull", "changes how the path is read"],
    ["/api/%2e/pull", "never encoded"],
    ["/api/x/%2E%2E/pull", "never encoded"],
    ["/api/%70ull", "never encoded"],
    ["/api/x/%252e%252e/pull", "changes how the path is read"],
    ["/api/x/%c0%ae/pull", "not UTF-8"],
    ["/api/pull%00", "changes how the path is read"],
    ["/api/pull%3Bx", "changes how the path is read"],
    ["/api/pull%zz", "invalid percent-encoding"],
    ["/api/pull%2", "invalid percent-encoding"],
    ["/api/./pull", "'.' or '..' segment"],
    ["/api/x/../pull", "'.' or '..' segment"],
    ["/./api/pull", "'.' or '..' segment"],
    ["/api/..", "'.' or '..' segment"],
    ["//api/pull", "empty segment"],
    ["/api//pull", "empty segment"],
    ["/api/pull/", "empty segment"],
    ["/api\\pull", "backslash"],
    ["/api/pull;x", "backslash"],
    ["/api/pull#x", "backslash"],
    ["http://localhost/x/../api/pull", "'.' or '..' segment"],
  ])("refuses %s", (raw, reason) => {
    const target = parseRequestTarget(raw);
    expect(target.ok).toBe(false);
    if (!target.ok) expect(target.reason).toContain(reason);
  });
});

describe("caseVariantOf", () => {
  it("names the route a path spells in another case, and nothing for real routes or unknown paths", () => {
    expect(caseVariantOf("POST", "/API/Pull")).toBe("/api/pull");
    expect(caseVariantOf("POST", "/api/pull")).toBeUndefined();
    expect(caseVariantOf("POST", "/api/blobs/SHA256:AB")).toBeUndefined();
    expect(caseVariantOf("POST", "/API/BLOBS/sha256:ab")).toBe(
      "/api/blobs/sha256:ab",
    );
    expect(caseVariantOf("GET", "/Unknown")).toBeUndefined();
  });
});

describe("overrideHeaderOf", () => {
  it("finds the headers that ask for another method or path", () => {
    expect(overrideHeaderOf({ "x-http-method-override": "DELETE" })).toBe(
      "x-http-method-override",
    );
    expect(overrideHeaderOf({ "x-original-url": "/api/pull" })).toBe(
      "x-original-url",
    );
    expect(overrideHeaderOf({ "content-type": "application/json" })).toBe(
      undefined,
    );
  });
});

describe("apiFamilyOf", () => {
  it.each([
    ["/api%2Fpull", "ollama"],
    ["*", "ollama"],
    ["/v1%2Fchat/completions", "openai"],
    ["/./v1/chat/completions", "openai"],
    ["/%761/chat/completions", "openai"],
    ["/v1/%2e/messages", "anthropic"],
    ["http://x/v1/messages/", "anthropic"],
  ])("%s → %s", (raw, api) => {
    expect(apiFamilyOf(raw)).toBe(api);
  });
});
