import { afterEach, describe, expect, it } from "vitest";
import { createSlotQueue, type SlotQueue } from "@proxy/access/concurrency.ts";

/** Slots held in a set, like the in-process store; `failing` makes tryAcquire reject. */
function slots(limit: number) {
  const held = new Set<string>();
  const state = { failing: false, attempts: 0, delayMs: 0 };
  return {
    held,
    state,
    tryAcquire: async (leaseIds: readonly string[]) => {
      state.attempts++;
      if (state.delayMs > 0)
        await new Promise((resolve) => setTimeout(resolve, state.delayMs));
      if (state.failing) throw new Error("store down");
      let taken = 0;
      for (const leaseId of leaseIds) {
        if (held.size >= limit) break;
        held.add(leaseId);
        taken++;
      }
      return taken;
    },
    giveBack: (leaseId: string) => held.delete(leaseId),
  };
}

describe("slot queue", () => {
  let queue: SlotQueue | undefined;
  afterEach(() => queue?.close());

  it("admits at once while slots are free", async () => {
    const store = slots(2);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 1000,
      pollMs: 1000,
    });
    expect(await queue.acquire("a")).toMatchObject({ ok: true });
    expect(await queue.acquire("b")).toMatchObject({ ok: true });
    expect([...store.held]).toEqual(["a", "b"]);
  });

  it("asks for a burst's slots together, one store call per queue head, first come first served", async () => {
    const store = slots(30);
    store.state.delayMs = 5;
    queue = createSlotQueue({
      ...store,
      maxWaiting: 100,
      timeoutMs: 5000,
      pollMs: 10_000,
    });
    const ids = Array.from({ length: 40 }, (_, i) => `r${i}`);
    const outcomes = ids.map((id) => queue!.acquire(id));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The first arrival asks alone; the 39 that arrived during that call ask together.
    expect(store.state.attempts).toBeLessThanOrEqual(3);
    expect([...store.held]).toEqual(ids.slice(0, 30));
    expect(queue.waiting).toBe(10);
    for (const id of ids.slice(0, 10)) store.held.delete(id);
    queue.notify();
    const settled = await Promise.all(outcomes);
    expect(settled.every((outcome) => outcome.ok)).toBe(true);
    expect([...store.held]).toEqual(ids.slice(10));
  });

  it("serves waiters first in, first out as slots are freed", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 5000,
      pollMs: 10_000,
    });
    await queue.acquire("first");
    const order: string[] = [];
    const waiting = ["w1", "w2", "w3"].map((id) =>
      queue!.acquire(id).then((outcome) => {
        order.push(id);
        return outcome;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(queue.waiting).toBe(3);
    for (const id of ["first", "w1", "w2"]) {
      store.held.delete(id);
      queue.notify();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const outcomes = await Promise.all(waiting);
    expect(order).toEqual(["w1", "w2", "w3"]);
    for (const outcome of outcomes) {
      expect(outcome.ok).toBe(true);
      expect(outcome.waitedMs).toBeGreaterThan(0);
    }
  });

  it("finds slots freed elsewhere by polling", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 5000,
      pollMs: 20,
    });
    await queue.acquire("other-replica");
    const waiter = queue.acquire("w");
    setTimeout(() => store.held.delete("other-replica"), 50);
    expect(await waiter).toMatchObject({ ok: true });
  });

  it("times out a waiter after timeoutMs and never hands it a slot", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 60,
      pollMs: 10,
    });
    await queue.acquire("a");
    const started = Date.now();
    const outcome = await queue.acquire("b");
    expect(outcome).toMatchObject({ ok: false, reason: "queue_timeout" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(outcome.waitedMs).toBeGreaterThanOrEqual(55);
    store.held.delete("a");
    queue.notify();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.held.has("b")).toBe(false);
    expect(queue.waiting).toBe(0);
  });

  it("gives back a slot that arrives for a waiter who already left", async () => {
    const store = slots(1);
    store.state.delayMs = 80;
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 30,
      pollMs: 10,
    });
    expect(await queue.acquire("slow")).toMatchObject({
      ok: false,
      reason: "queue_timeout",
    });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(store.held.size).toBe(0);
  });

  it("refuses with queue_full beyond maxWaiting", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 2,
      timeoutMs: 1000,
      pollMs: 1000,
    });
    await queue.acquire("a");
    const waiters = ["b", "c", "d", "e"].map((id) => queue!.acquire(id));
    const full = await Promise.race([
      Promise.all([waiters[2], waiters[3]]),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 200)),
    ]);
    expect(full).toEqual([
      expect.objectContaining({ ok: false, reason: "queue_full" }),
      expect.objectContaining({ ok: false, reason: "queue_full" }),
    ]);
    expect(queue.waiting).toBe(2);
  });

  it("with maxWaiting 0 refuses at once when no slot is free", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 0,
      timeoutMs: 1000,
      pollMs: 1000,
    });
    await queue.acquire("a");
    expect(await queue.acquire("b")).toMatchObject({
      ok: false,
      reason: "queue_full",
    });
  });

  it("drops a waiter whose client left", async () => {
    const store = slots(1);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 5000,
      pollMs: 1000,
    });
    await queue.acquire("a");
    const controller = new AbortController();
    const waiter = queue.acquire("b", controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect(await waiter).toMatchObject({ ok: false, reason: "aborted" });
    expect(queue.waiting).toBe(0);
    expect(await queue.acquire("c", AbortSignal.abort())).toMatchObject({
      reason: "aborted",
    });
  });

  it("reports a failing store to the waiter instead of hanging", async () => {
    const store = slots(1);
    store.state.failing = true;
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 5000,
      pollMs: 1000,
    });
    const outcome = await queue.acquire("a");
    expect(outcome).toMatchObject({ ok: false, reason: "error" });
  });

  it("settles every waiter on close", async () => {
    const store = slots(0);
    queue = createSlotQueue({
      ...store,
      maxWaiting: 10,
      timeoutMs: 5000,
      pollMs: 1000,
    });
    const waiter = queue.acquire("a");
    await new Promise((resolve) => setTimeout(resolve, 10));
    queue.close();
    expect(await waiter).toMatchObject({ ok: false, reason: "closed" });
    expect(await queue.acquire("b")).toMatchObject({
      ok: false,
      reason: "closed",
    });
  });
});
