import { describe, expect, it } from "vitest";
import {
  formatLocalNano,
  formatUtcNano,
  parseGoDuration,
} from "../../fixtures/ollama-emulator/go-time.ts";

describe("parseGoDuration", () => {
  it.each([
    ["5m", 300e9],
    ["1h30m", 5400e9],
    ["0", 0],
    ["-1m", -60e9],
    ["1.5s", 1.5e9],
    ["300ms", 300e6],
    ["2us", 2000],
    ["+10s", 10e9],
  ])("parses %s", (text, ns) => {
    expect(parseGoDuration(text)).toEqual({ ok: true, ns });
  });

  it.each([
    ["-1", 'time: missing unit in duration "-1"'],
    ["300", 'time: missing unit in duration "300"'],
    ["1d", 'time: unknown unit "d" in duration "1d"'],
    ["", 'time: invalid duration ""'],
    ["abc", 'time: invalid duration "abc"'],
    [".s", 'time: invalid duration ".s"'],
  ])("rejects %j with Go's message", (text, error) => {
    expect(parseGoDuration(text)).toEqual({ ok: false, error });
  });
});

describe("timestamps", () => {
  it("formats created_at as RFC 3339 UTC with trailing zeros trimmed", () => {
    const ms = Date.UTC(2026, 7, 21, 10, 0, 0, 120);
    expect(formatUtcNano(ms)).toBe("2026-08-21T10:00:00.12Z");
    expect(formatUtcNano(ms + 0.25)).toBe("2026-08-21T10:00:00.12025Z");
    expect(formatUtcNano(Date.UTC(2026, 7, 21, 10, 0, 0))).toBe(
      "2026-08-21T10:00:00Z",
    );
  });

  it("formats local times with an offset (Z when the zone is UTC)", () => {
    const text = formatLocalNano(Date.UTC(2026, 7, 21, 10, 0, 0, 5));
    expect(text).toMatch(/^2026-08-2\dT\d\d:\d\d:00\.005(Z|[+-]\d\d:\d\d)$/);
    expect(new Date(text).getTime()).toBe(Date.UTC(2026, 7, 21, 10, 0, 0, 5));
  });
});
