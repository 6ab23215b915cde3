import { describe, expect, it } from "vitest";
import {
  createHostPolicy,
  hostOf,
  isValidAllowedHost,
} from "@proxy/http/allowed-hosts.ts";

const policy = (allowedHosts: string[] = []) =>
  createHostPolicy({
    allowedHosts,
    hostName: "gpu-box",
    interfaceAddresses: ["127.0.0.1", "203.0.113.7", "::1"],
  });

describe("host policy (Ollama's allowedHost rules)", () => {
  it.each([
    "localhost",
    "localhost:11434",
    "LOCALHOST",
    "localhost.",
    "127.0.0.1:11434",
    "127.8.9.10",
    "[::1]:11434",
    "[::ffff:127.0.0.1]",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.20:11434",
    "[fd00::1]",
    "0.0.0.0",
    "203.0.113.7:11434", // the machine's own address
    "gpu-box",
    "gpu-box:11434",
    "open-webui.localhost",
    "printer.local",
    "host.docker.internal:11434",
  ])("serves %s", (host) => {
    expect(policy()(host)).toBe(true);
  });

  it.each([
    "evil.example",
    "evil.example:11434",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "0x7f000001",
    "2130706433",
    "8.8.8.8",
    "[2001:db8::1]",
    "172.32.0.1",
    "gpu-box.evil.example",
    "proxy",
  ])("refuses %s", (host) => {
    expect(policy()(host)).toBe(false);
  });

  it("serves an HTTP/1.0 request without Host, as Ollama does", () => {
    expect(policy()(undefined)).toBe(true);
  });

  it("adds the names, suffixes and addresses of ALLOWED_HOSTS; * turns the check off", () => {
    const configured = policy(["proxy", "*.corp.example", "198.51.100.4"]);
    expect(configured("proxy:11434")).toBe(true);
    expect(configured("ollama.corp.example")).toBe(true);
    expect(configured("corp.example")).toBe(false);
    expect(configured("198.51.100.4")).toBe(true);
    expect(configured("evil.example")).toBe(false);
    expect(policy(["*"])("evil.example")).toBe(true);
  });
});

describe("hostOf", () => {
  it.each([
    ["LocalHost:11434", "localhost"],
    ["[::1]:80", "::1"],
    ["::1", "::1"],
    ["example.com.", "example.com"],
  ])("%s → %s", (header, host) => {
    expect(hostOf(header)).toBe(host);
  });
});

describe("isValidAllowedHost", () => {
  it.each(["*", "proxy", "*.corp.example", "10.0.0.1", "[::1]", "a-b.c"])(
    "accepts %s",
    (entry) => expect(isValidAllowedHost(entry)).toBe(true),
  );
  it.each(["http://x", "a b", "*.", "-x", "x_y", "*x"])("refuses %s", (entry) =>
    expect(isValidAllowedHost(entry)).toBe(false),
  );
});
