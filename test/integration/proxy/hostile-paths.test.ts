// Every spelling of an admin route, sent as an attacker would (raw bytes, no client library to tidy the path),
// through the real proxy to an upstream that routes more leniently than Ollama: with a user key none reaches an
// admin handler, no key header reaches the upstream, and each request is recorded once. Without keys,
// canonical paths pass unchanged and the rest are refused with 400 in the route family's shape.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createKeysDir,
  type KeysDir,
} from "../../fixtures/access/admission.ts";
import {
  startLenientUpstream,
  type LenientUpstream,
} from "../../fixtures/lenient-upstream.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";
import { sendRaw, type RawAnswer } from "../../helpers/raw-request.ts";
import { waitFor } from "../../helpers/wait-for.ts";

/** One request as raw bytes, so that no client library tidies the path. */
function send(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = "",
): Promise<RawAnswer> {
  return sendRaw(
    port,
    [
      `${method} ${target} HTTP/1.1`,
      "Host: 127.0.0.1",
      "Content-Type: application/json",
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ],
    body,
  );
}

const DIGEST = `sha256:${"ab".repeat(32)}`;

/** The admin routes, as the canonical method and path. */
const ADMIN_ROUTES: ReadonlyArray<[string, string]> = [
  ["POST", "/api/pull"],
  ["POST", "/api/push"],
  ["POST", "/api/create"],
  ["POST", "/api/copy"],
  ["DELETE", "/api/delete"],
  ["POST", `/api/blobs/${DIGEST}`],
  ["HEAD", `/api/blobs/${DIGEST}`],
  ["POST", "/api/me"],
  ["POST", "/api/signout"],
  ["DELETE", "/api/user/keys/c3NoLWVkMjU1MTk"],
];
const ADMIN_HANDLERS = new Set([
  "POST /api/pull",
  "POST /api/push",
  "POST /api/create",
  "POST /api/copy",
  "DELETE /api/delete",
  "POST /api/blobs/:digest",
  "HEAD /api/blobs/:digest",
  "POST /api/me",
  "POST /api/signout",
  "DELETE /api/user/keys/:encodedKey",
]);

const swapCase = (text: string) =>
  text.replace(/[a-z]/gi, (c) =>
    c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase(),
  );

/**
 * Every way of writing `path` that some server might read as `path`. The canonical ones are forwarded; the rest
 * are refused.
 */
function spellings(
  path: string,
): Array<{ target: string; canonical: boolean }> {
  const inner = path.slice(1); // "api/pull"
  const [first = "", ...others] = inner.split("/");
  const tail = others.join("/");
  const encodeFirstLetter = (text: string) =>
    `%${text.charCodeAt(0).toString(16)}${text.slice(1)}`;
  const canonical = [
    path,
    `${path}?stream=false`,
    `http://127.0.0.1${path}`,
    `http://evil.example${path}`,
  ];
  const refused = [
    // Case: gin would answer 404, a case-insensitive server in front of it would route them.
    swapCase(path),
    path.toUpperCase(),
    `/${first}%2F${tail}`,
    `/${first}%2f${tail}`,
    `/${first}/%2e/${tail}`,
    `/${first}/./${tail}`,
    `/./${inner}`,
    `/${first}/x/../${tail}`,
    `/x/../${inner}`,
    `/${first}/x/%2e%2e/${tail}`,
    `/${first}/x/%2E%2E/${tail}`,
    `/${first}/x/%252e%252e/${tail}`,
    `/${first}/x/%c0%ae%c0%ae/${tail}`,
    `/${first}\\${tail}`,
    `/${first}%5C${tail}`,
    `/${first}%5c${tail}`,
    `//${inner}`,
    `/${first}//${tail}`,
    `${path}/`,
    `${path};x=1`,
    `${path}%3Bx`,
    `${path}#frag`,
    `${path}%00`,
    `/${first}/${encodeFirstLetter(tail)}`,
    `/${encodeFirstLetter(inner)}`,
    `http://127.0.0.1/x/..${path}`,
    "*",
  ];
  return [
    ...canonical.map((target) => ({ target, canonical: true })),
    ...refused.map((target) => ({ target, canonical: false })),
  ];
}

function corpus(): Array<{
  method: string;
  target: string;
  headers: Record<string, string>;
}> {
  const cases: Array<{
    method: string;
    target: string;
    headers: Record<string, string>;
  }> = [];
  for (const [method, path] of ADMIN_ROUTES) {
    for (const { target } of spellings(path)) {
      for (const m of new Set([method, "HEAD", "OPTIONS", "GET"]))
        cases.push({ method: m, target, headers: {} });
    }
    // Ask a lenient server to take another method or path than the request line's.
    for (const header of [
      "X-HTTP-Method-Override",
      "X-HTTP-Method",
      "X-Method-Override",
    ])
      cases.push({
        method: "POST",
        target: path.replace(/^\/api\/\w+$/, "/api/show"),
        headers: { [header]: method },
      });
    for (const header of ["X-Original-URL", "X-Rewrite-URL"])
      cases.push({
        method,
        target: "/api/show",
        headers: { [header]: path },
      });
  }
  return cases;
}

const BODY = JSON.stringify({ model: "llama3.2", stream: false });

describe("hostile request paths", () => {
  let upstream: LenientUpstream;
  let keys: KeysDir;
  let proxy: ProxyProcess;
  beforeAll(async () => {
    upstream = await startLenientUpstream();
    keys = await createKeysDir([
      { name: "web" },
      { name: "ops", role: "admin" },
    ]);
    proxy = await startProxy({
      OLLAMA_URL: upstream.url,
      API_KEYS_FILE: keys.file,
    });
  });
  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
    await keys?.close();
  });

  it("with a user key, no spelling of an admin route reaches an admin handler, and each is recorded once", async () => {
    const cases = corpus();
    expect(cases.length).toBeGreaterThan(300);
    const ids: string[] = [];
    for (const { method, target, headers } of cases) {
      const answer = await send(
        proxy.port,
        method,
        target,
        { Authorization: `Bearer ${keys.secrets.web!}`, ...headers },
        method === "GET" || method === "HEAD" ? "" : BODY,
      );
      expect(answer.status, `${method} ${target}`).toBeGreaterThan(0);
      expect(answer.requestId, `${method} ${target}`).toBeDefined();
      ids.push(answer.requestId!);
    }
    const reachedAdmin = upstream.received
      .filter((r) => ADMIN_HANDLERS.has(r.handler))
      .map((r) => `${r.method} ${r.target} ${JSON.stringify(r.headers)}`);
    expect(reachedAdmin).toEqual([]);
    for (const received of upstream.received) {
      expect(received.headers.authorization).toBeUndefined();
      expect(received.headers["x-api-key"]).toBeUndefined();
    }
    // Exactly one record per request.
    await waitFor(() => proxy.records().length >= ids.length, {
      timeoutMs: 20_000,
    });
    const recorded = proxy.records().map((r) => r.request_id as string);
    expect(recorded.sort()).toEqual([...ids].sort());
  });

  it("an admin key reaches the admin routes by their canonical spelling", async () => {
    for (const [method, path] of ADMIN_ROUTES) {
      const answer = await send(
        proxy.port,
        method,
        path,
        { Authorization: `Bearer ${keys.secrets.ops!}` },
        method === "HEAD" ? "" : BODY,
      );
      expect(answer.status, `${method} ${path}`).toBe(200);
      expect(upstream.receivedFor(answer.requestId!)?.handler).toBe(
        `${method} ${path.replace(DIGEST, ":digest").replace(/keys\/.*/, "keys/:encodedKey")}`,
      );
    }
  });
});

describe("hostile request paths without keys", () => {
  let upstream: LenientUpstream;
  let proxy: ProxyProcess;
  beforeAll(async () => {
    upstream = await startLenientUpstream();
    proxy = await startProxy({ OLLAMA_URL: upstream.url });
  });
  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  it("forwards canonical targets byte for byte", async () => {
    for (const target of [
      "/api/pull",
      "/api/tags?x=1&y=%2F",
      `/api/blobs/${DIGEST}`,
      "/v1/models/llama3.2:latest",
      "/v1/models/llama3.2%3Alatest",
      "/api/user/keys/c3NoLWVkMjU1MTkgQUFBQQ",
      "/",
    ]) {
      const answer = await send(proxy.port, "GET", target);
      expect(answer.status, target).not.toBe(400);
      expect(upstream.receivedFor(answer.requestId!)?.target, target).toBe(
        target,
      );
    }
  });

  it("sends absolute-form targets on in origin-form", async () => {
    const answer = await send(
      proxy.port,
      "GET",
      "http://127.0.0.1:11434/api/tags?x=1",
    );
    expect(upstream.receivedFor(answer.requestId!)?.target).toBe(
      "/api/tags?x=1",
    );
  });

  it("refuses every other spelling with 400 in the route family's shape, records it, and forwards nothing", async () => {
    // The proxy's own polls of /api/tags, /api/ps and /api/version carry no request id.
    const forwardedBefore = upstream.received.filter(
      (r) => r.headers["x-request-id"] !== undefined,
    ).length;
    type Shape = (body: Record<string, unknown>, target: string) => void;
    const bases: Array<[string, Shape]> = [
      [
        "/api/pull",
        (body, target) =>
          expect(body.error, target).toMatch(/^request target refused: /),
      ],
      [
        "/v1/chat/completions",
        (body, target) =>
          expect(body, target).toMatchObject({
            error: { type: "invalid_request_error" },
          }),
      ],
      [
        "/v1/messages",
        (body, target) =>
          expect(body, target).toMatchObject({
            type: "error",
            error: { type: "invalid_request_error" },
          }),
      ],
    ];
    const refused = bases.flatMap(([base, shape]) =>
      spellings(base)
        .filter(
          (spelling) =>
            !spelling.canonical &&
            // "*" names no family: answered in Ollama's shape.
            !(base !== "/api/pull" && spelling.target === "*"),
        )
        .map((spelling) => ({ target: spelling.target, shape })),
    );
    expect(refused.length).toBeGreaterThan(60);
    for (const { target, shape } of refused) {
      const answer = await send(proxy.port, "POST", target, {}, BODY);
      expect(answer.status, target).toBe(400);
      shape(JSON.parse(answer.body) as Record<string, unknown>, target);
      const record = await proxy.recordFor(answer.requestId!);
      expect(record).toMatchObject({ status: 400, outcome: "rejected" });
    }
    expect(
      upstream.received.filter((r) => r.headers["x-request-id"] !== undefined)
        .length,
    ).toBe(forwardedBefore);
  });
});
