import { describe, expect, it } from "vitest";
import {
  allowedOrigins,
  createCorsPolicy,
} from "../../fixtures/ollama-emulator/cors.ts";

describe("CORS policy", () => {
  const decide = createCorsPolicy([" HTTPS://Example.com "]);

  it("adds OLLAMA_ORIGINS-style entries, trimmed and lower-cased, to Ollama's defaults", () => {
    const origins = allowedOrigins([" HTTPS://Example.com "]);
    expect(origins[0]).toBe("https://example.com");
    expect(origins).toContain("http://127.0.0.1:*");
    expect(origins).toContain("vscode-file://*");
  });

  it("passes requests without an Origin or from the same host", () => {
    expect(decide("GET", undefined, "localhost:11434")).toEqual({
      kind: "pass",
    });
    expect(decide("GET", "http://localhost:11434", "localhost:11434")).toEqual({
      kind: "pass",
    });
  });

  it("allows default and configured origins, with wildcard ports and schemes", () => {
    for (const origin of [
      "http://localhost",
      "https://127.0.0.1:8443",
      "app://x",
      "https://example.com",
    ]) {
      expect(decide("POST", origin, "h")).toEqual({
        kind: "allow",
        headers: { Vary: "Origin", "Access-Control-Allow-Origin": origin },
      });
    }
  });

  it("forbids others, browser extensions included", () => {
    expect(decide("GET", "https://evil.com", "h")).toEqual({
      kind: "forbidden",
    });
    expect(decide("GET", "chrome-extension://abc", "h")).toEqual({
      kind: "forbidden",
    });
  });

  it("answers preflights, and '*' allows every origin without Vary", () => {
    expect(decide("OPTIONS", "http://localhost:3000", "h").kind).toBe(
      "preflight",
    );
    const open = createCorsPolicy(["*"]);
    expect(open("GET", "https://anything.example", "h")).toEqual({
      kind: "allow",
      headers: { "Access-Control-Allow-Origin": "*" },
    });
  });
});
