// The gate before any decision is taken from a request: refused here are targets Ollama would read otherwise
// (upstream/request-target.ts), Host names that are not local (allowed-hosts.ts), two Host headers, a known route
// in another case, and method/URL override headers. Pure: reads the request, answers a refusal or nothing.
import type { IncomingMessage } from "node:http";
import {
  overrideHeaderOf,
  type RequestTarget,
} from "../upstream/request-target.ts";
import { caseVariantOf } from "../upstream/routes.ts";
import type { HostPolicy } from "./allowed-hosts.ts";

export interface Refusal {
  readonly status: number;
  readonly message: string;
  readonly reason: "bad_request_target" | "host_not_allowed";
}

/** Why a request must not be forwarded, whatever it asks (upstream/request-target.ts, http/allowed-hosts.ts). */
export function refusalOf(
  req: IncomingMessage,
  method: string,
  target: RequestTarget,
  hostAllowed: HostPolicy | undefined,
): Refusal | undefined {
  const bad = (message: string): Refusal => ({
    status: 400,
    message,
    reason: "bad_request_target",
  });
  if (!target.ok) return bad(`request target refused: ${target.reason}`);
  // RFC 9112 §3.2: more than one Host is answered 400; Node would keep the first and a server behind the last.
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    if (req.rawHeaders[i]!.toLowerCase() === "host") hosts++;
  if (hosts > 1) return bad("request refused: more than one Host header");
  const host = target.authority ?? req.headers.host;
  if (hostAllowed && !hostAllowed(host))
    return {
      status: 403,
      message: `host not allowed: ${JSON.stringify(host ?? "")} is not a local name; add it to ALLOWED_HOSTS to serve it`,
      reason: "host_not_allowed",
    };
  const variant = caseVariantOf(method, target.path);
  if (variant)
    return bad(
      `request target refused: paths are case-sensitive (did you mean ${variant}?)`,
    );
  const override = overrideHeaderOf(req.headers);
  if (override)
    return bad(`request refused: the ${override} header is not accepted`);
  return undefined;
}
