// Every route Ollama registers has a class in the proxy: instrumented (tokens counted, recorded with the prompt),
// admin-only, web (admin or a key with web: true) or plain. A route the emulator learns from a new Ollama that
// the proxy has not classified fails here, before it is forwarded unjudged.
import { describe, expect, it } from "vitest";
import { ADMIN_OPS, WEB_OPS } from "@proxy/access/access-control.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";
import { ROUTES } from "../../fixtures/ollama-emulator/route-table.ts";

function classOf(method: string, pattern: string): string {
  const path = pattern.replace(/:(\w+)/g, "sample-$1");
  const route = matchRoute(method, path);
  if (route.op === "other") return "unclassified";
  if (ADMIN_OPS.has(route.op)) return "admin";
  if (WEB_OPS.has(route.op)) return "web";
  return route.inference ? "instrumented" : "plain";
}

const EXPECTED: Record<string, string> = {
  "HEAD /": "plain",
  "GET /": "plain",
  "HEAD /api/version": "plain",
  "GET /api/version": "plain",
  "GET /api/status": "plain",
  "POST /api/pull": "admin",
  "POST /api/push": "admin",
  "HEAD /api/tags": "plain",
  "GET /api/tags": "plain",
  "POST /api/show": "plain",
  "DELETE /api/delete": "admin",
  "POST /api/me": "admin",
  "POST /api/signout": "admin",
  "DELETE /api/user/keys/:encodedKey": "admin",
  "POST /api/create": "admin",
  "POST /api/blobs/:digest": "admin",
  "HEAD /api/blobs/:digest": "admin",
  "POST /api/copy": "admin",
  "POST /api/experimental/web_search": "web",
  "POST /api/experimental/web_fetch": "web",
  "GET /api/experimental/model-recommendations": "plain",
  "GET /api/ps": "plain",
  "POST /api/generate": "instrumented",
  "POST /api/chat": "instrumented",
  "POST /api/embed": "instrumented",
  "POST /api/embeddings": "instrumented",
  "POST /v1/chat/completions": "instrumented",
  "POST /v1/completions": "instrumented",
  "POST /v1/embeddings": "instrumented",
  "GET /v1/models": "plain",
  "GET /v1/models/:model": "plain",
  "POST /v1/responses": "instrumented",
  "POST /v1/audio/transcriptions": "plain",
  "POST /v1/messages": "instrumented",
};

describe("route classes", () => {
  it.each(ROUTES.map((r) => [`${r.method} ${r.pattern}`, r] as const))(
    "%s has a class",
    (name, route) => {
      const actual = classOf(route.method, route.pattern);
      expect(actual).not.toBe("unclassified");
      expect(actual).toBe(EXPECTED[name]);
    },
  );

  it("the table above covers exactly the routes Ollama registers", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(
      ROUTES.map((r) => `${r.method} ${r.pattern}`).sort(),
    );
  });

  it("each registered route has its own endpoint label, never the shared `other`", () => {
    for (const route of ROUTES) {
      const path = route.pattern.replace(/:(\w+)/g, "sample-$1");
      expect(matchRoute(route.method, path).endpoint).not.toBe("other");
    }
  });
});
