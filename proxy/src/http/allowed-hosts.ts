// Which Host names the proxy serves: Ollama's DNS-rebinding guard (server/routes.go allowedHost; reference/
// ollama-api.md §9.3), applied on every route. A web page can make a browser send requests to a name that
// resolves to 127.0.0.1, but not with a local name in Host: refusing foreign names keeps such pages from driving
// Ollama or reading /analytics through the browser of whoever runs the stack. The proxy rewrites Host to
// Ollama's on the way up, so Ollama's own guard never sees the client's name: the check must happen here.
import { isIP } from "node:net";
import { hostname, networkInterfaces } from "node:os";

/** True when a request with this Host (or absolute-form authority) may be served. */
export type HostPolicy = (host: string | undefined) => boolean;

export interface HostPolicyOptions {
  /** ALLOWED_HOSTS: extra names (`gpu-box.lan`), suffixes (`*.corp.example`) or IPs; ["*"] turns the check off. */
  readonly allowedHosts: readonly string[];
  /** The machine's own host name and interface addresses (tests pass their own). */
  readonly hostName?: string;
  readonly interfaceAddresses?: readonly string[];
}

/** Host without port, lowercased, IPv6 brackets and one trailing dot removed. */
export function hostOf(header: string): string {
  let host = header.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.lastIndexOf(":");
  if (colon !== -1 && host.indexOf(":") === colon) host = host.slice(0, colon);
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

function ipv4Local(ip: string): boolean {
  const [a = -1, b = -1] = ip.split(".").map(Number);
  return (
    a === 127 ||
    a === 10 ||
    ip === "0.0.0.0" ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168)
  );
}

/** Loopback, private or unspecified, as Go's net.IP IsLoopback/IsPrivate/IsUnspecified read them. */
function isLocalIp(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return ipv4Local(mapped[1]!);
  if (isIP(ip) === 4) return ipv4Local(ip);
  if (ip === "::1" || ip === "::") return true;
  const first = Number.parseInt(ip.split(":")[0] || "0", 16);
  return (first & 0xfe00) === 0xfc00;
}

function machineAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) =>
    (list ?? []).map(
      (entry) => entry.address.toLowerCase().split("%")[0] ?? "",
    ),
  );
}

export function createHostPolicy(options: HostPolicyOptions): HostPolicy {
  if (options.allowedHosts.includes("*")) return () => true;
  const ownAddresses = new Set(
    options.interfaceAddresses ?? machineAddresses(),
  );
  const machine = (options.hostName ?? hostname()).toLowerCase();
  const names = new Set<string>();
  const suffixes: string[] = [".localhost", ".local", ".internal"];
  for (const entry of options.allowedHosts) {
    const host = hostOf(entry);
    if (host.startsWith("*.")) suffixes.push(host.slice(1));
    else names.add(host);
  }
  return (header) => {
    // HTTP/1.0 without Host: Ollama serves it too (the name is empty).
    const host = header === undefined ? "" : hostOf(header);
    if (names.has(host)) return true;
    if (isIP(host) !== 0) return isLocalIp(host) || ownAddresses.has(host);
    return (
      host === "" ||
      host === "localhost" ||
      host === machine ||
      suffixes.some((suffix) => host.endsWith(suffix))
    );
  };
}

/** What ALLOWED_HOSTS may hold: `*`, host names, `*.`-suffixes and IP literals (no ports, no schemes). */
export function isValidAllowedHost(entry: string): boolean {
  if (entry === "*") return true;
  const host = entry.trim().toLowerCase().replace(/\.$/, "");
  if (isIP(host) !== 0) return true;
  if (host.startsWith("[") && host.endsWith("]"))
    return isIP(host.slice(1, -1)) === 6;
  return /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(
    host,
  );
}
