import { describe, expect, it } from "vitest";
import {
  createFaultSlot,
  faultApplies,
  parseFaultHeader,
} from "../../fixtures/ollama-emulator/faults.ts";

describe("fault header", () => {
  it("parses a name with optional status, message and after", () => {
    expect(parseFaultHeader("busy")).toEqual({ name: "busy" });
    expect(
      parseFaultHeader(
        " Error-Before-First-Chunk ; status=429; message=rate limit exceeded",
      ),
    ).toEqual({
      name: "error-before-first-chunk",
      status: 429,
      message: "rate limit exceeded",
    });
    expect(parseFaultHeader("stall; after=5")).toEqual({
      name: "stall",
      afterChunks: 5,
    });
  });

  it("ignores an absent or unknown fault", () => {
    expect(parseFaultHeader(undefined)).toBeUndefined();
    expect(parseFaultHeader("explode")).toBeUndefined();
  });
});

describe("fault slot", () => {
  it("serves a programmatic fault for `times` requests where it applies", () => {
    const slot = createFaultSlot();
    slot.set({ name: "no-done", times: 1 });
    expect(slot.take(undefined, "generation", false)).toBeUndefined();
    expect(slot.take(undefined, "embedding", true)).toBeUndefined();
    expect(slot.take(undefined, "generation", true)).toEqual({
      name: "no-done",
      times: 1,
    });
    expect(slot.take(undefined, "generation", true)).toBeUndefined();
  });

  it("lets a header fault win without consuming the programmatic one", () => {
    const slot = createFaultSlot();
    slot.set({ name: "busy" });
    expect(slot.take({ name: "stall" }, "generation", true)).toEqual({
      name: "stall",
    });
    expect(slot.take(undefined, "generation", true)).toEqual({ name: "busy" });
    slot.set(undefined);
    expect(slot.take(undefined, "generation", true)).toBeUndefined();
  });

  it("knows where each fault can strike", () => {
    expect(faultApplies({ name: "model-not-found" }, "pull", true)).toBe(true);
    expect(faultApplies({ name: "busy" }, "pull", true)).toBe(false);
    expect(faultApplies({ name: "error-mid-stream" }, "embedding", false)).toBe(
      false,
    );
  });
});
