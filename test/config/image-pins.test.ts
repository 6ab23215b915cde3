// Image pins: compose.yaml's defaults and .env.example name the same versions, and none falls below the release
// that fixed a known security problem on its line (README, "Image pins").
import { describe, expect, it } from "vitest";
import { readText } from "./repo-files.ts";

function composePins(): Map<string, string> {
  const pins = new Map<string, string>();
  for (const file of ["compose.yaml", "compose.gpu.yaml"])
    for (const match of readText(file).matchAll(
      /image: [^\s$]+:\$\{(\w+_VERSION):-([^}]+)\}/g,
    ))
      pins.set(match[1]!, match[2]!);
  return pins;
}

/** 1.2.3 → [1, 2, 3]; a leading v and a -suffix are ignored. */
const numbers = (version: string) =>
  version.replace(/^v/, "").split("-")[0]!.split(".").map(Number);
const atLeast = (version: string, floor: string) => {
  const [a, b] = [numbers(version), numbers(floor)];
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
};

// The oldest release of each line that carries the security (or correctness) fixes we know of.
const FLOORS: Record<string, [string, string]> = {
  GRAFANA_VERSION: [
    "13.2.1",
    "CVE-2026-17183 (13.2.0), CVE-2026-12704 and CVE-2026-14199 (13.2.1)",
  ],
  REDIS_VERSION: [
    "8.2.8",
    "the 8.2.8 remote-code-execution fixes and later security releases",
  ],
  PROMETHEUS_VERSION: ["v3.13.2", "CVE-2026-56852 (3.13.2)"],
  NODE_EXPORTER_VERSION: [
    "v1.10.1",
    "filesystems collected more than once (1.10.1)",
  ],
};

describe("image pins", () => {
  it("compose.yaml and .env.example pin the same versions", () => {
    const pins = composePins();
    expect(pins.size).toBeGreaterThan(5);
    const example = readText(".env.example");
    for (const [name, version] of pins)
      expect(example, name).toMatch(
        new RegExp(`^${name}=${version.replace(/\./g, "\\.")}$`, "m"),
      );
  });

  it.each(Object.entries(FLOORS))(
    "%s is at or past its last known fix",
    (name, [floor, why]) => {
      const version = composePins().get(name);
      expect(version, name).toBeDefined();
      expect(
        atLeast(version!, floor),
        `${name}=${version} predates ${floor}: ${why}`,
      ).toBe(true);
    },
  );

  it("compares versions by number, not by text", () => {
    expect(atLeast("8.2.10-alpine", "8.2.8")).toBe(true);
    expect(atLeast("v1.10.0", "v1.10.1")).toBe(false);
    expect(atLeast("13.2.3", "13.10.0")).toBe(false);
  });
});
