import { describe, expect, it } from "vitest";
import {
  DEFAULT_CLIENT_HEADER,
  DEFAULT_URL,
  parseClientHeader,
  parseDuration,
  parseTrafficArgs,
  type ParsedArgs,
  type TrafficOptions,
} from "../../../tools/traffic/args.ts";

function options(
  argv: string[],
  env: Record<string, string> = {},
): TrafficOptions {
  const parsed = parseTrafficArgs(argv, env, 1234);
  if (parsed.kind !== "run")
    throw new Error(`expected options, got ${JSON.stringify(parsed)}`);
  return parsed.options;
}

function reason(argv: string[]): string {
  const parsed: ParsedArgs = parseTrafficArgs(argv, {}, 1);
  if (parsed.kind !== "error")
    throw new Error(`expected an error, got ${JSON.stringify(parsed)}`);
  return parsed.reason;
}

describe("parseDuration", () => {
  it.each([
    ["250ms", 250],
    ["90s", 90_000],
    ["90", 90_000],
    ["5m", 300_000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    [" 2m ", 120_000],
  ])("reads %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "0", "0s", "-5s", "5 minutes", "1d", "s", "1e3"])(
    "rejects %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe("parseClientHeader", () => {
  it("splits rotating values on commas", () => {
    expect(parseClientHeader("X-OpenWebUI-User-Name=alice, bob,carol")).toEqual(
      {
        name: "X-OpenWebUI-User-Name",
        values: ["alice", "bob", "carol"],
      },
    );
  });

  it("keeps an equals sign inside the value", () => {
    expect(parseClientHeader("X-Tag=a=b")).toEqual({
      name: "X-Tag",
      values: ["a=b"],
    });
  });

  it.each(["no-equals", "=value", "Bad Name=x", "X-Empty=", "X-Empty= , "])(
    "rejects %j",
    (text) => {
      expect(typeof parseClientHeader(text)).toBe("string");
    },
  );
});

describe("parseTrafficArgs", () => {
  it("defaults to a quick run of 30 requests against localhost:11434, attributed to fake users", () => {
    const quick = options([]);
    expect(quick).toMatchObject({
      url: DEFAULT_URL,
      mode: "quick",
      requests: 30,
      durationMs: undefined,
      concurrency: 4,
      ratePerSecond: undefined,
      faults: true,
      models: undefined,
      seed: 1234,
      maxTokens: 256,
      timeoutMs: 120_000,
    });
    expect(quick.clientHeaders).toEqual([DEFAULT_CLIENT_HEADER]);
  });

  it("gives demo a steady rate for a bounded time", () => {
    expect(options(["--mode", "demo"])).toMatchObject({
      ratePerSecond: 2,
      durationMs: 300_000,
      requests: undefined,
      faults: true,
    });
  });

  it("gives stress high concurrency, no rate limit and no injected faults", () => {
    expect(options(["--mode=stress"])).toMatchObject({
      concurrency: 32,
      ratePerSecond: undefined,
      durationMs: 60_000,
      faults: false,
    });
  });

  it("takes the URL from TRAFFIC_URL, and --url over it", () => {
    expect(options([], { TRAFFIC_URL: "http://proxy:11434/" }).url).toBe(
      "http://proxy:11434",
    );
    expect(
      options(["--url", "http://127.0.0.1:8080"], {
        TRAFFIC_URL: "http://proxy:11434",
      }).url,
    ).toBe("http://127.0.0.1:8080");
  });

  it("lets --duration replace quick mode's count, and --requests replace demo's duration", () => {
    expect(options(["--duration", "45s"])).toMatchObject({
      durationMs: 45_000,
      requests: undefined,
    });
    expect(options(["--mode", "demo", "--requests", "10"])).toMatchObject({
      requests: 10,
      durationMs: undefined,
    });
    expect(options(["--requests", "10", "--duration", "1m"])).toMatchObject({
      requests: 10,
      durationMs: 60_000,
    });
  });

  it("reads the numeric options", () => {
    expect(
      options([
        "--concurrency",
        "12",
        "--rate",
        "0.5",
        "--seed",
        "42",
        "--timeout",
        "30s",
        "--max-tokens",
        "64",
      ]),
    ).toMatchObject({
      concurrency: 12,
      ratePerSecond: 0.5,
      seed: 42,
      timeoutMs: 30_000,
      maxTokens: 64,
    });
    expect(options(["--rate", "0"]).ratePerSecond).toBeUndefined();
  });

  it("splits --models on commas", () => {
    expect(options(["--models", "llama3.2, all-minilm,"]).models).toEqual([
      "llama3.2",
      "all-minilm",
    ]);
  });

  it("accepts several --client-header flags, or none at all", () => {
    expect(
      options([
        "--client-header",
        "X-User=a,b",
        "--client-header",
        "X-Team=red",
      ]).clientHeaders,
    ).toEqual([
      { name: "X-User", values: ["a", "b"] },
      { name: "X-Team", values: ["red"] },
    ]);
    expect(options(["--no-client-header"]).clientHeaders).toEqual([]);
  });

  it("turns faults on and off explicitly", () => {
    expect(options(["--no-faults"]).faults).toBe(false);
    expect(options(["--mode", "stress", "--faults"]).faults).toBe(true);
  });

  it("asks for help", () => {
    expect(parseTrafficArgs(["--help"], {}, 1)).toEqual({ kind: "help" });
    expect(parseTrafficArgs(["-h"], {}, 1)).toEqual({ kind: "help" });
  });

  it.each([
    [["--mode", "soak"], /--mode must be one of quick, demo, stress/],
    [["--concurrency", "0"], /--concurrency must be an integer >= 1/],
    [["--concurrency", "2.5"], /--concurrency/],
    [["--rate", "-1"], /--rate/],
    [["--rate", "fast"], /--rate/],
    [["--duration", "forever"], /--duration/],
    [["--requests", "0"], /--requests/],
    [["--url", "localhost:11434"], /--url must be an http\(s\) URL/],
    [["--url", "ftp://host"], /--url/],
    [["--models", " , "], /--models/],
    [["--client-header", "nope"], /NAME=VALUE/],
    [["--client-header", "X=a", "--no-client-header"], /conflict/],
    [["--seed", "-3"], /--seed/],
    [["--faults", "--no-faults"], /conflict/],
    [["--bogus"], /bogus/],
    [["positional"], /positional/],
  ])("rejects %j", (argv, pattern) => {
    expect(reason(argv)).toMatch(pattern);
  });
});
