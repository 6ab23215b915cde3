import { describe, expect, it } from "vitest";
import {
  EJECT_BASE_MS,
  EJECT_MAX_MS,
  FAILURES_TO_EJECT,
  isAvailable,
  newBackendState,
  reportFailure,
  reportPoll,
  reportSuccess,
  type BackendState,
} from "@proxy/backends/health.ts";
import { rankBackends } from "@proxy/backends/routing.ts";

const NOW = Date.now();

function backend(
  name: string,
  options: {
    models?: string[];
    loaded?: string[];
    inFlight?: number;
    weight?: number;
    maxConcurrent?: number;
    up?: boolean;
  } = {},
): BackendState {
  const state = newBackendState({
    name,
    url: `http://${name}:11434`,
    weight: options.weight ?? 1,
    maxConcurrent: options.maxConcurrent,
  });
  state.up = options.up ?? true;
  state.models = options.models && new Set(options.models);
  state.loadedSince = new Map(
    (options.loaded ?? []).map((m) => [m, NOW - 60_000]),
  );
  state.inFlight = options.inFlight ?? 0;
  return state;
}

function names(ranking: ReturnType<typeof rankBackends>): string[] {
  if (!ranking.ok) throw new Error(ranking.message);
  return ranking.candidates.map((b) => b.spec.name);
}

describe("routing", () => {
  it("prefers where the model is loaded, then where it is installed, least busy first", () => {
    const a = backend("a", { models: ["m:latest"], inFlight: 0 });
    const b = backend("b", {
      models: ["m:latest"],
      loaded: ["m:latest"],
      inFlight: 5,
    });
    const c = backend("c", {
      models: ["m:latest"],
      loaded: ["m:latest"],
      inFlight: 1,
    });
    const d = backend("d", { models: ["other:latest"] });
    expect(
      names(
        rankBackends([a, b, c, d], { model: "m:latest", nowMs: NOW, turn: 0 }),
      ),
    ).toEqual(["c", "b", "a"]);
  });

  it("answers 404 naming the model when no backend has it, never a random backend", () => {
    const ranking = rankBackends(
      [backend("a", { models: ["x:latest"] }), backend("b", { models: [] })],
      { model: "nope:latest", nowMs: NOW, turn: 0 },
    );
    expect(ranking).toMatchObject({
      ok: false,
      status: 404,
      reason: "model_not_found",
    });
    expect(!ranking.ok && ranking.message).toContain('"nope:latest"');
  });

  it("tries a backend whose models are not known yet before giving up", () => {
    const a = backend("a", { models: ["x:latest"] });
    const b = backend("b");
    expect(
      names(rankBackends([a, b], { model: "y:latest", nowMs: NOW, turn: 0 })),
    ).toEqual(["b"]);
  });

  it("names a backend once, where it ranks best, when its list of models is not known yet but the model is loaded", () => {
    const installed = backend("installed", { models: ["m:latest"] });
    const unknown = backend("unknown", { loaded: ["m:latest"], inFlight: 3 });
    const ranking = rankBackends([installed, unknown], {
      model: "m:latest",
      nowMs: NOW,
      turn: 0,
    });
    expect(names(ranking)).toEqual(["unknown", "installed"]);
  });

  it("keeps unhealthy backends with the model as a last resort", () => {
    const down = backend("down", { models: ["m:latest"], up: false });
    const ok = backend("ok", { models: ["m:latest"], inFlight: 9 });
    expect(
      names(
        rankBackends([down, ok], { model: "m:latest", nowMs: NOW, turn: 0 }),
      ),
    ).toEqual(["ok", "down"]);
  });

  it("weights busy-ness and spreads ties by turn", () => {
    const a = backend("a", { models: ["m:latest"], inFlight: 2, weight: 2 });
    const b = backend("b", { models: ["m:latest"], inFlight: 1 });
    const firsts = [0, 1, 2, 3].map(
      (turn) =>
        names(rankBackends([a, b], { model: "m:latest", nowMs: NOW, turn }))[0],
    );
    expect(new Set(firsts)).toEqual(new Set(["a", "b"]));
  });

  it("skips backends at their cap, and answers 503 when all are", () => {
    const a = backend("a", {
      models: ["m:latest"],
      maxConcurrent: 1,
      inFlight: 1,
    });
    const b = backend("b", { models: ["m:latest"], inFlight: 7 });
    expect(
      names(rankBackends([a, b], { model: "m:latest", nowMs: NOW, turn: 0 })),
    ).toEqual(["b"]);
    const capped = backend("b", {
      models: ["m:latest"],
      maxConcurrent: 2,
      inFlight: 2,
    });
    expect(
      rankBackends([a, capped], { model: "m:latest", nowMs: NOW, turn: 0 }),
    ).toMatchObject({ ok: false, status: 503, reason: "backends_busy" });
  });

  it("counts the other replicas' requests in busy-ness and caps", () => {
    const a = backend("a", { models: ["m:latest"], inFlight: 0 });
    a.remoteInFlight = 5;
    const b = backend("b", { models: ["m:latest"], inFlight: 2 });
    expect(
      names(rankBackends([a, b], { model: "m:latest", nowMs: NOW, turn: 0 })),
    ).toEqual(["b", "a"]);
    const capped = backend("c", {
      models: ["m:latest"],
      maxConcurrent: 3,
      inFlight: 1,
    });
    capped.remoteInFlight = 2;
    expect(
      names(
        rankBackends([capped, b], { model: "m:latest", nowMs: NOW, turn: 0 }),
      ),
    ).toEqual(["b"]);
  });

  it("puts a conversation's last backend first while it holds the model loaded", () => {
    const a = backend("a", {
      models: ["m:latest"],
      loaded: ["m:latest"],
      inFlight: 3,
    });
    const b = backend("b", { models: ["m:latest"], loaded: ["m:latest"] });
    const request = { model: "m:latest", nowMs: NOW, turn: 0 };
    expect(names(rankBackends([a, b], { ...request, preferred: a }))).toEqual([
      "a",
      "b",
    ]);
    const unloaded = backend("c", { models: ["m:latest"] });
    expect(
      names(rankBackends([unloaded, b], { ...request, preferred: unloaded })),
    ).toEqual(["b", "c"]);
  });

  it("retries elsewhere: excluded backends are not candidates", () => {
    const a = backend("a", { models: ["m:latest"] });
    const b = backend("b", { models: ["m:latest"] });
    expect(
      names(
        rankBackends([a, b], {
          model: "m:latest",
          nowMs: NOW,
          turn: 0,
          exclude: new Set([a]),
        }),
      ),
    ).toEqual(["b"]);
  });

  it("always picks a single backend: that Ollama answers for its models", () => {
    const only = backend("only", { models: [], up: false });
    expect(
      names(rankBackends([only], { model: "any:latest", nowMs: NOW, turn: 0 })),
    ).toEqual(["only"]);
  });
});

describe("passive health", () => {
  it("ejects at once on a refused connection, with a doubling backoff", () => {
    const state = backend("a");
    expect(reportFailure(state, "connect", NOW)).toBe(EJECT_BASE_MS);
    expect(isAvailable(state, NOW)).toBe(false);
    expect(isAvailable(state, NOW + EJECT_BASE_MS)).toBe(true);
    expect(reportFailure(state, "connect", NOW + EJECT_BASE_MS)).toBe(
      2 * EJECT_BASE_MS,
    );
    for (let i = 0; i < 20; i++)
      reportFailure(state, "connect", NOW + 10_000_000 * (i + 1));
    expect(state.ejectedUntilMs - NOW - 10_000_000 * 20).toBe(EJECT_MAX_MS);
  });

  it("ejects after repeated resets, timeouts or 5xx, not after one", () => {
    const state = backend("a");
    for (let i = 1; i < FAILURES_TO_EJECT; i++)
      expect(reportFailure(state, "status_5xx", NOW)).toBeUndefined();
    expect(reportFailure(state, "reset", NOW)).toBe(EJECT_BASE_MS);
  });

  it("starts the streak over on a success", () => {
    const state = backend("a");
    reportFailure(state, "timeout", NOW);
    reportFailure(state, "timeout", NOW);
    reportSuccess(state);
    expect(reportFailure(state, "timeout", NOW)).toBeUndefined();
  });

  it("rejoins as soon as the poll finds it answering, and leaves when the poll fails", () => {
    const state = backend("a");
    reportFailure(state, "connect", NOW);
    reportPoll(state, true);
    expect(isAvailable(state, NOW)).toBe(true);
    reportPoll(state, false);
    expect(isAvailable(state, NOW + 10 * EJECT_MAX_MS)).toBe(false);
  });
});
