// Ollama's route table (reference/ollama-api.md §1) → Route. Pure: no I/O.
import type { Api, Op, Route } from "./types.ts";

interface RouteSpec {
  op: Op;
  api?: Api;
  readsBody?: boolean;
  inference?: boolean;
  changesModels?: boolean;
}

const SPECS: Record<string, RouteSpec> = {
  "POST /api/generate": { op: "generate", readsBody: true, inference: true },
  "POST /api/chat": { op: "chat", readsBody: true, inference: true },
  "POST /api/embed": { op: "embed", readsBody: true, inference: true },
  "POST /api/embeddings": {
    op: "embeddings",
    readsBody: true,
    inference: true,
  },
  "POST /api/pull": { op: "pull", readsBody: true, changesModels: true },
  "POST /api/push": { op: "push", readsBody: true },
  "POST /api/create": { op: "create", readsBody: true, changesModels: true },
  "POST /api/copy": { op: "copy", readsBody: true, changesModels: true },
  "DELETE /api/delete": { op: "delete", readsBody: true, changesModels: true },
  "POST /api/show": { op: "show", readsBody: true },
  "GET /api/tags": { op: "tags" },
  "HEAD /api/tags": { op: "tags" },
  "GET /api/ps": { op: "ps" },
  "GET /api/version": { op: "version" },
  "HEAD /api/version": { op: "version" },
  "GET /api/status": { op: "status" },
  // The server's ollama.com account (server/routes.go GenerateRoutes): admin keys only (access-control.ts).
  "POST /api/me": { op: "me" },
  "POST /api/signout": { op: "signout" },
  "POST /api/experimental/web_search": { op: "web_search" },
  "POST /api/experimental/web_fetch": { op: "web_fetch" },
  "GET /api/experimental/model-recommendations": { op: "recommendations" },
  "GET /": { op: "root" },
  "HEAD /": { op: "root" },
  "POST /v1/chat/completions": {
    op: "chat_completions",
    api: "openai",
    readsBody: true,
    inference: true,
  },
  "POST /v1/completions": {
    op: "completions",
    api: "openai",
    readsBody: true,
    inference: true,
  },
  "POST /v1/embeddings": {
    op: "openai_embeddings",
    api: "openai",
    readsBody: true,
    inference: true,
  },
  "POST /v1/responses": {
    op: "responses",
    api: "openai",
    readsBody: true,
    inference: true,
  },
  "POST /v1/messages": {
    op: "messages",
    api: "anthropic",
    readsBody: true,
    inference: true,
  },
  "GET /v1/models": { op: "models", api: "openai" },
  // Multipart audio in: counted and timed by its own endpoint, no token counts.
  "POST /v1/audio/transcriptions": { op: "transcriptions", api: "openai" },
  // Ollama ≥ 0.35 "System One" structured scoring (ollama-js systemone()): counted and timed, no token counts.
  "POST /v1/systemone": { op: "other", api: "openai", readsBody: true },
};

function build(endpoint: string, spec: RouteSpec): Route {
  return Object.freeze({
    endpoint,
    api: spec.api ?? (endpoint.startsWith("/v1/") ? "openai" : "ollama"),
    op: spec.op,
    readsBody: spec.readsBody ?? false,
    inference: spec.inference ?? false,
    changesModels: spec.changesModels ?? false,
  });
}

const EXACT = new Map<string, Route>(
  Object.entries(SPECS).map(([key, spec]) => [
    key,
    build(key.slice(key.indexOf(" ") + 1), spec),
  ]),
);

/** Routes that change what models Ollama has, or move them (reference/ollama-api.md §8). */
export const MODEL_MANAGEMENT_OPS: ReadonlySet<Op> = new Set([
  "pull",
  "push",
  "create",
  "copy",
  "delete",
  "blob",
]);

/** Endpoints that generate tokens (their responses are parsed for counts). */
export const INFERENCE_ENDPOINTS: readonly string[] = [...EXACT.values()]
  .filter((route) => route.inference)
  .map((route) => route.endpoint);

const BLOB = build("/api/blobs/:digest", { op: "blob" });
const USER_KEY = build("/api/user/keys/:encodedKey", { op: "signout" });
const MODEL = build("/v1/models/:model", { op: "models", api: "openai" });
const OTHER_V1 = build("other", { op: "other", api: "openai" });
const OTHER = build("other", { op: "other" });
const OTHER_ANTHROPIC = build("other", { op: "other", api: "anthropic" });

/** The `other` route of an API family: for requests refused before any route could be read from them. */
export function otherRoute(api: Api): Route {
  if (api === "openai") return OTHER_V1;
  return api === "anthropic" ? OTHER_ANTHROPIC : OTHER;
}

/**
 * Maps a request to its route. `path` is the URL path without the query. Unknown paths share one
 * `other` endpoint so that no client can create unbounded metric series.
 */
export function matchRoute(method: string, path: string): Route {
  const exact = EXACT.get(`${method} ${path}`);
  if (exact) return exact;
  if (path.startsWith("/api/blobs/") && path.indexOf("/", 11) === -1)
    return BLOB;
  if (
    method === "DELETE" &&
    path.startsWith("/api/user/keys/") &&
    path.length > 15 &&
    path.indexOf("/", 15) === -1
  )
    return USER_KEY;
  if (
    path.startsWith("/v1/models/") &&
    path.length > 11 &&
    path.indexOf("/", 11) === -1
  )
    return MODEL;
  return path.startsWith("/v1/") ? OTHER_V1 : OTHER;
}

/**
 * The endpoint a path names in another letter case (`/API/Pull` → `/api/pull`), if any. gin matches case
 * exactly, but a case-insensitive server in front of Ollama would not: such a path is refused, not judged as
 * an unknown route.
 */
export function caseVariantOf(
  method: string,
  path: string,
): string | undefined {
  const lower = path.toLowerCase();
  if (lower === path) return undefined;
  const route = matchRoute(method, lower);
  if (route.op === "other") return undefined;
  const known = matchRoute(method, path);
  return known.op === "other" ? lower : undefined;
}
