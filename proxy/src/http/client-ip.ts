// The client's address: the socket's peer, or the X-Forwarded-For hop chosen by proxy-addr when the peer is a
// trusted proxy (TRUSTED_PROXIES). Without trusted proxies the header is ignored: any client could forge it.
import type { IncomingMessage } from "node:http";
import proxyaddr from "proxy-addr";

export function createClientIpResolver(
  trustedProxies: readonly string[],
): (req: IncomingMessage) => string {
  if (trustedProxies.length === 0)
    return (req) => stripMappedPrefix(req.socket.remoteAddress ?? "");
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => stripMappedPrefix(proxyaddr(req, trust));
}

/** ::ffff:127.0.0.1 → 127.0.0.1, so the same client has one spelling. */
function stripMappedPrefix(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".")
    ? address.slice(7)
    : address;
}
