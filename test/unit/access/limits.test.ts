import { afterEach, describe, expect, it } from "vitest";
import {
  createLocalLimitStore,
  rateRetryAfterSeconds,
  secondsUntilUtcMidnight,
  utcDay,
  type ClientLimits,
  type LocalLimitStore,
} from "@proxy/access/limits.ts";

const limits = (overrides: Partial<ClientLimits>): ClientLimits => ({
  requestsPerMinute: 0,
  tokensPerDay: 0,
  concurrent: 0,
  ...overrides,
});

describe("in-process limits", () => {
  let clock = Date.UTC(2026, 0, 10, 12, 0, 0);
  let store: LocalLimitStore;
  const fresh = () => {
    clock = Date.UTC(2026, 0, 10, 12, 0, 0);
    store = createLocalLimitStore({ now: () => clock });
    return store;
  };
  afterEach(() => store.close());

  it("admits exactly N requests in any 60 s window (sliding log)", async () => {
    fresh();
    const rpm = limits({ requestsPerMinute: 3 });
    for (let i = 0; i < 3; i++) {
      expect((await store.admit("a", rpm, `r${i}`)).ok).toBe(true);
      clock += 10_000;
    }
    // t = 30 s: the window holds requests at 0, 10 and 20 s.
    expect(await store.admit("a", rpm, "r3")).toEqual({
      ok: false,
      reason: "rate_limited",
      retryAfterSeconds: 30,
    });
    clock += 29_999; // t = 59.999 s
    expect((await store.admit("a", rpm, "r4")).ok).toBe(false);
    clock += 1; // t = 60 s: the request at 0 s has left
    expect((await store.admit("a", rpm, "r5")).ok).toBe(true);
    expect((await store.admit("a", rpm, "r6")).ok).toBe(false);
    // Other subjects have their own window.
    expect((await store.admit("b", rpm, "r7")).ok).toBe(true);
  });

  it("does not count refused requests", async () => {
    fresh();
    const rpm = limits({ requestsPerMinute: 1 });
    expect((await store.admit("a", rpm, "1")).ok).toBe(true);
    for (let i = 0; i < 10; i++) await store.admit("a", rpm, `x${i}`);
    clock += 60_000;
    expect((await store.admit("a", rpm, "2")).ok).toBe(true);
  });

  it("refuses when today's tokens reached the limit, until UTC midnight", async () => {
    fresh();
    const tpd = limits({ tokensPerDay: 100 });
    expect((await store.admit("a", tpd, "1")).ok).toBe(true);
    await store.chargeTokens("a", 99);
    expect((await store.admit("a", tpd, "2")).ok).toBe(true);
    // The request that crosses the limit still completes; the next is refused.
    await store.chargeTokens("a", 50);
    expect(await store.admit("a", tpd, "3")).toEqual({
      ok: false,
      reason: "tokens_exhausted",
      retryAfterSeconds: 12 * 3600,
    });
    expect((await store.admit("b", tpd, "4")).ok).toBe(true);
    clock = Date.UTC(2026, 0, 11, 0, 0, 0);
    expect((await store.admit("a", tpd, "5")).ok).toBe(true);
  });

  it("holds concurrency leases until released, and refusals take none", async () => {
    fresh();
    const two = limits({ concurrent: 2, requestsPerMinute: 100 });
    expect((await store.admit("a", two, "1")).ok).toBe(true);
    expect((await store.admit("a", two, "2")).ok).toBe(true);
    expect(await store.admit("a", two, "3")).toEqual({
      ok: false,
      reason: "concurrency",
      retryAfterSeconds: 1,
    });
    await store.releaseLease("a", "1");
    await store.releaseLease("a", "1");
    expect((await store.admit("a", two, "4")).ok).toBe(true);
    expect((await store.admit("a", two, "5")).ok).toBe(false);
  });

  it("checks tokens, then concurrency, then the rate, and takes nothing on refusal", async () => {
    fresh();
    const all = limits({
      requestsPerMinute: 1,
      tokensPerDay: 10,
      concurrent: 1,
    });
    expect((await store.admit("a", all, "1")).ok).toBe(true);
    expect(await store.admit("a", all, "2")).toMatchObject({
      reason: "concurrency",
    });
    await store.releaseLease("a", "1");
    expect(await store.admit("a", all, "3")).toMatchObject({
      reason: "rate_limited",
    });
    await store.chargeTokens("a", 10);
    expect(await store.admit("a", all, "4")).toMatchObject({
      reason: "tokens_exhausted",
    });
  });

  it("hands out global slots up to the limit", async () => {
    fresh();
    expect(await store.acquireGlobal(["1"], 2)).toBe(1);
    expect(await store.acquireGlobal(["2", "3"], 2)).toBe(1);
    expect(await store.acquireGlobal(["3"], 2)).toBe(0);
    await store.releaseGlobal("1");
    expect(await store.acquireGlobal(["3", "4"], 2)).toBe(1);
  });

  it("forgets idle clients, so per-IP state stays bounded", async () => {
    fresh();
    const rpm = limits({ requestsPerMinute: 5, concurrent: 1 });
    for (let i = 0; i < 1000; i++) {
      await store.admit(`ip:${i}`, rpm, `r${i}`);
      await store.releaseLease(`ip:${i}`, `r${i}`);
    }
    expect(store.subjects).toBe(1000);
    clock += 60_001;
    await store.admit("ip:x", rpm, "x");
    // Windows are pruned as they are touched or swept; force the sweep path through a touch of every subject.
    for (let i = 0; i < 1000; i++)
      await store.admit(`ip:${i}`, limits({}), "n");
    expect(store.subjects).toBe(1);
  });
});

describe("limit arithmetic", () => {
  it("names the UTC day and the seconds to its end", () => {
    const t = Date.UTC(2026, 5, 30, 23, 59, 59, 500);
    expect(utcDay(t)).toBe("2026-06-30");
    expect(secondsUntilUtcMidnight(t)).toBe(1);
    expect(secondsUntilUtcMidnight(Date.UTC(2026, 5, 30))).toBe(86_400);
  });

  it("rounds Retry-After up, and never below 1", () => {
    expect(rateRetryAfterSeconds(0, 59_001)).toBe(1);
    expect(rateRetryAfterSeconds(0, 60_000)).toBe(1);
    expect(rateRetryAfterSeconds(0, 30_500)).toBe(30);
  });
});
