// One backend's routing state and its passive health: what the poll and the traffic taught the proxy about it.
// A backend that refuses a connection is taken out at once; resets, timeouts and 5xx take it out after
// FAILURES_TO_EJECT in a row. It stays out for a backoff that doubles with each ejection (up to EJECT_MAX_MS),
// and rejoins at once when the poll finds it answering. Pure state transitions: the clock is passed in.
import type { BackendSpec } from "./settings.ts";

export type FailureKind = "connect" | "reset" | "timeout" | "status_5xx";

export const FAILURES_TO_EJECT = 3;
export const EJECT_BASE_MS = 1000;
export const EJECT_MAX_MS = 60_000;

export interface BackendState {
  readonly spec: BackendSpec;
  /** Requests this replica has sent to it that have not finished. */
  inFlight: number;
  /** The other replicas' in-flight requests to it, as they last reported them through Redis (shared-load.ts). */
  remoteInFlight: number;
  /** The poll's answer: undefined before the first one. */
  up: boolean | undefined;
  version: string | undefined;
  /** Installed models (normalised, lower case) from /api/tags; undefined until a poll read them. */
  models: ReadonlySet<string> | undefined;
  /** The same, as /api/tags spells them (normalised): the model label's allow-list. */
  modelNames: readonly string[];
  /** Loaded models (normalised, lower case) → end of the first /api/ps poll of their current streak. */
  loadedSince: ReadonlyMap<string, number>;
  /** Models a response showed loaded since the last /api/ps poll. */
  revealed: Set<string>;
  /** Out of the rotation until then (epoch ms); 0 = in. */
  ejectedUntilMs: number;
  /** Ejections since it last served well: the next backoff's exponent. */
  ejections: number;
  /** Failures in a row (not counting connection refusals, which eject at once). */
  failures: number;
}

export function newBackendState(spec: BackendSpec): BackendState {
  return {
    spec,
    inFlight: 0,
    remoteInFlight: 0,
    up: undefined,
    version: undefined,
    models: undefined,
    modelNames: [],
    loadedSince: new Map(),
    revealed: new Set(),
    ejectedUntilMs: 0,
    ejections: 0,
    failures: 0,
  };
}

/** Takes traffic now: the poll has not found it down and it is not serving an ejection. */
export function isAvailable(state: BackendState, nowMs: number): boolean {
  return state.up !== false && nowMs >= state.ejectedUntilMs;
}

export function isLoaded(state: BackendState, model: string): boolean {
  return state.loadedSince.has(model) || state.revealed.has(model);
}

/** Counts a failure; returns the backoff in ms when it took the backend out, else undefined. */
export function reportFailure(
  state: BackendState,
  kind: FailureKind,
  nowMs: number,
): number | undefined {
  state.failures += 1;
  if (kind !== "connect" && state.failures < FAILURES_TO_EJECT)
    return undefined;
  if (nowMs < state.ejectedUntilMs) return undefined;
  const backoffMs = Math.min(
    EJECT_MAX_MS,
    EJECT_BASE_MS * 2 ** Math.min(state.ejections, 16),
  );
  state.ejectedUntilMs = nowMs + backoffMs;
  state.ejections += 1;
  state.failures = 0;
  return backoffMs;
}

/** A response came back well: the failure streak and the backoff start over. */
export function reportSuccess(state: BackendState): void {
  state.failures = 0;
  state.ejections = 0;
}

/** The poll's verdict. A backend that answers rejoins at once; one that does not is out until it does. */
export function reportPoll(state: BackendState, up: boolean): void {
  state.up = up;
  if (up) state.ejectedUntilMs = 0;
}
