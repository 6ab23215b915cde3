// The request target as Ollama will route it, or the reason it is refused. Pure: no I/O.
//
// Ollama routes on Go's decoded URL.Path (net/url unescapes %XX) with gin, which matches paths byte for byte and
// cleans nothing but a trailing slash (it redirects). Every decision the proxy takes from a path (admin-only
// routes, which routes are instrumented, its own routes, limits, allow-lists) must see the path Ollama will
// route; the simplest way to be sure is to accept only targets whose raw path is already canonical, where the
// decoded path has the same segments as the raw one, and to refuse the rest with 400 (README, "Securing Ollama").
import type { Api } from "./types.ts";

export type RequestTarget =
  | {
      readonly ok: true;
      /** The path Ollama routes: percent-decoded as Go's net/url does. */
      readonly path: string;
      /** The target in origin-form (raw path and query), as it is forwarded. */
      readonly originForm: string;
      /** The authority of an absolute-form target (`http://host:port/path`), which replaces Host (RFC 9112 §3.2.2). */
      readonly authority?: string;
    }
  | { readonly ok: false; readonly reason: string };

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;
const HEX = /^[0-9a-f]{2}$/i;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
// Characters that change how a path is split or read (by gin, Go, or a server in front of Ollama).
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const FORBIDDEN_RAW = /[\\;#\s\x00-\x1f\x7f]/;
const FORBIDDEN_DECODED = new Set(["/", "\\", "%", ";", "#"]);

const refuse = (reason: string): RequestTarget => ({ ok: false, reason });

function decodePath(raw: string): string | { error: string } {
  if (!raw.includes("%")) return raw;
  for (let i = raw.indexOf("%"); i !== -1; i = raw.indexOf("%", i + 1)) {
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX.test(hex))
      return { error: `invalid percent-encoding "${raw.slice(i, i + 3)}"` };
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    if (UNRESERVED.test(char))
      return {
        error: `"%${hex}" encodes "${char}", which is never encoded in a canonical path`,
      };
    if (FORBIDDEN_DECODED.has(char) || char < " " || char === "\x7f")
      return {
        error: `"%${hex}" encodes a character that changes how the path is read`,
      };
  }
  try {
    return decodeURIComponent(raw);
  } catch {
    return { error: "percent-encoding that is not UTF-8" };
  }
}

/** Parses a raw request target (`req.url`): origin-form or absolute-form; anything else is refused. */
export function parseRequestTarget(raw: string): RequestTarget {
  let rest = raw;
  let authority: string | undefined;
  const scheme = ABSOLUTE_FORM.exec(raw);
  if (scheme) {
    const afterScheme = raw.slice(scheme[0].length);
    const end = afterScheme.search(/[/?]/);
    authority = end === -1 ? afterScheme : afterScheme.slice(0, end);
    if (authority === "" || authority.includes("@"))
      return refuse("an absolute-form target needs a plain host[:port]");
    rest = end === -1 ? "/" : afterScheme.slice(end);
    if (rest.startsWith("?")) rest = `/${rest}`;
  }
  if (!rest.startsWith("/"))
    return refuse("the target must be a path starting with /");
  const queryAt = rest.indexOf("?");
  const rawPath = queryAt === -1 ? rest : rest.slice(0, queryAt);
  if (FORBIDDEN_RAW.test(rawPath))
    return refuse(
      "the path holds a backslash, ';', '#', white space or a control character",
    );
  if (rawPath !== "/") {
    for (const segment of rawPath.slice(1).split("/")) {
      if (segment === "")
        return refuse("the path has an empty segment ('//' or a trailing '/')");
      if (segment === "." || segment === "..")
        return refuse("the path has a '.' or '..' segment");
    }
  }
  const path = decodePath(rawPath);
  if (typeof path !== "string") return refuse(path.error);
  return authority === undefined
    ? { ok: true, path, originForm: rest }
    : { ok: true, path, originForm: rest, authority };
}

/**
 * Headers that ask a server to take another method or path than the request line's. Ollama honours none of them,
 * but a server put in front of it might: a request that carries one is refused rather than judged on one reading.
 */
const OVERRIDE_HEADERS = [
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-original-url",
  "x-rewrite-url",
  "x-original-method",
] as const;

/** The first override header present, if any. */
export function overrideHeaderOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string | undefined {
  return OVERRIDE_HEADERS.find((name) => headers[name] !== undefined);
}

/** The API family of a target that could not be parsed, so that its 400 comes in the shape the client reads. */
export function apiFamilyOf(rawTarget: string): Api {
  const decoded = rawTarget.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  const v1 = /(?:^|[/\\])v1[/\\](.*)$/i.exec(decoded);
  if (!v1) return "ollama";
  return /messages/i.test(v1[1] ?? "") ? "anthropic" : "openai";
}
