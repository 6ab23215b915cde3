import { describe, expect, it } from "vitest";
import {
  createHostPolicy,
  isLoopbackAddress,
} from "../../fixtures/ollama-emulator/host-check.ts";

describe("Host check", () => {
  const decide = createHostPolicy();

  it.each([
    "localhost",
    "localhost:11434",
    "127.0.0.1:11434",
    "[::1]:11434",
    "10.1.2.3",
    "172.20.0.1:80",
    "192.168.1.9",
    "0.0.0.0",
    "a.localhost",
    "pi.local",
    "svc.internal",
    "",
  ])("accepts %j", (host) => {
    expect(decide("GET", host)).toBe("pass");
  });

  it.each([
    "example.com",
    "example.com:11434",
    "8.8.8.8",
    "172.32.0.1",
    "[::1]",
  ])("forbids %j", (host) => {
    expect(decide("GET", host)).toBe("forbidden");
  });

  it("answers OPTIONS to an allowed host name with no content, but not to an IP", () => {
    expect(decide("OPTIONS", "localhost:11434")).toBe("no-content");
    expect(decide("OPTIONS", "127.0.0.1:11434")).toBe("pass");
  });

  it("only guards loopback listeners", () => {
    expect(isLoopbackAddress("127.0.0.1")).toBe(true);
    expect(isLoopbackAddress("::1")).toBe(true);
    expect(isLoopbackAddress("0.0.0.0")).toBe(false);
  });
});
