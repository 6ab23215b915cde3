import { describe, expect, it } from "vitest";
import { matchRoute } from "@proxy/upstream/routes.ts";

describe("matchRoute", () => {
  it.each([
    ["POST", "/api/chat", "/api/chat", "ollama", "chat", true],
    ["POST", "/api/generate", "/api/generate", "ollama", "generate", true],
    ["POST", "/api/embed", "/api/embed", "ollama", "embed", true],
    [
      "POST",
      "/v1/chat/completions",
      "/v1/chat/completions",
      "openai",
      "chat_completions",
      true,
    ],
    ["POST", "/v1/messages", "/v1/messages", "anthropic", "messages", true],
    ["GET", "/api/tags", "/api/tags", "ollama", "tags", false],
    [
      "HEAD",
      "/api/blobs/sha256:abc",
      "/api/blobs/:digest",
      "ollama",
      "blob",
      false,
    ],
    [
      "GET",
      "/v1/models/llama3.2",
      "/v1/models/:model",
      "openai",
      "models",
      false,
    ],
  ])("%s %s → %s", (method, path, endpoint, api, op, inference) => {
    expect(matchRoute(method, path)).toMatchObject({
      endpoint,
      api,
      op,
      inference,
    });
  });

  it("maps every unknown path and wrong method to one bounded endpoint", () => {
    for (const [method, path] of [
      ["GET", "/api/chat"],
      ["POST", "/random/" + "x".repeat(50)],
      ["GET", "/api/tags/"],
      ["GET", "/api/blobs/a/b"],
    ] as const) {
      expect(matchRoute(method, path).endpoint).toBe("other");
    }
    expect(matchRoute("POST", "/v1/unknown").api).toBe("openai");
  });

  it("marks the routes that change the installed models", () => {
    expect(matchRoute("POST", "/api/pull").changesModels).toBe(true);
    expect(matchRoute("DELETE", "/api/delete").changesModels).toBe(true);
    expect(matchRoute("POST", "/api/show").changesModels).toBe(false);
  });
});
