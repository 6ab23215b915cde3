// Which backend serves a request: pure ranking over the backends' states. For a request that names a model:
// healthy backends with the model loaded (least busy first), then healthy ones that have it installed, then
// healthy ones whose models are not known yet, then — last resort, in case their health is stale — the
// unhealthy ones that have it. A model no backend has is a 404, never a random backend. One backend alone is
// always chosen: that Ollama answers every question about its models itself.
import { isAvailable, isLoaded, type BackendState } from "./health.ts";

export type Ranking =
  | { readonly ok: true; readonly candidates: readonly BackendState[] }
  | {
      readonly ok: false;
      readonly status: 404 | 503;
      readonly reason: "model_not_found" | "backends_busy";
      readonly message: string;
    };

export interface RankRequest {
  /** Normalised and lower-cased; "" when the request names none. */
  readonly model: string;
  readonly nowMs: number;
  /** Rotates the order of equally loaded backends so that ties spread the traffic. */
  readonly turn: number;
  /** Backends already tried for this request (a retry goes elsewhere). */
  readonly exclude?: ReadonlySet<BackendState>;
  /** Conversation affinity: this backend first when it is a healthy candidate with room and the model loaded. */
  readonly preferred?: BackendState;
}

/** Requests in flight to it from every replica (the others' as of their last report). */
const busy = (state: BackendState) => state.inFlight + state.remoteInFlight;
const load = (state: BackendState) => busy(state) / state.spec.weight;

function atCap(state: BackendState): boolean {
  const cap = state.spec.maxConcurrent;
  return cap !== undefined && busy(state) >= cap;
}

/**
 * Where a backend ranks for `model`: 0 healthy with it loaded, 1 healthy with it installed, 2 healthy with models
 * not known yet, 3 unhealthy with it installed; without a model, 0 healthy and 1 unhealthy. undefined: not a
 * candidate.
 */
function tierOf(
  state: BackendState,
  model: string,
  nowMs: number,
): number | undefined {
  const available = isAvailable(state, nowMs);
  if (model === "") return available ? 0 : 1;
  if (!available) return state.models?.has(model) ? 3 : undefined;
  if (isLoaded(state, model)) return 0;
  if (state.models === undefined) return 2;
  return state.models.has(model) ? 1 : undefined;
}

interface Ranked {
  readonly state: BackendState;
  readonly tier: number;
  readonly load: number;
  /** Its place in the rotation this turn: ties in tier and load go round the backends. */
  readonly position: number;
}

export function rankBackends(
  backends: readonly BackendState[],
  request: RankRequest,
): Ranking {
  const { model, nowMs, turn, exclude } = request;
  if (backends.length === 1) {
    const only = backends[0] as BackendState;
    return { ok: true, candidates: exclude?.has(only) ? [] : [only] };
  }
  // One pass and one sort: this runs for every request, and tier arrays, filters and a sort per tier cost ~4 KB
  // of garbage per request at three backends.
  const n = backends.length;
  const ranked: Ranked[] = [];
  let someHaveIt = false;
  for (let index = 0; index < n; index++) {
    const state = backends[index] as BackendState;
    if (exclude?.has(state)) continue;
    const tier = tierOf(state, model, nowMs);
    if (tier === undefined) continue;
    someHaveIt = true;
    if (atCap(state)) continue;
    const position = (((index - turn) % n) + n) % n;
    ranked.push({ state, tier, load: load(state), position });
  }
  if (!someHaveIt) {
    // A backend whose models are unknown may have it — unless it is down and cannot say.
    const anyHas =
      model === "" ||
      backends.some(
        (b) =>
          b.models?.has(model) ||
          (b.models === undefined && isAvailable(b, nowMs)),
      );
    if (anyHas) return { ok: true, candidates: [] };
    return {
      ok: false,
      status: 404,
      reason: "model_not_found",
      message: `model "${model}" not found on any backend, try pulling it first`,
    };
  }
  if (ranked.length === 0)
    return {
      ok: false,
      status: 503,
      reason: "backends_busy",
      message: `every backend that has ${model === "" ? "room" : `model "${model}"`} is at its max_concurrent`,
    };
  ranked.sort(
    (a, b) => a.tier - b.tier || a.load - b.load || a.position - b.position,
  );
  const candidates = ranked.map((r) => r.state);
  // The last turn's backend helps only while it still holds the model (and so the conversation's prompt).
  const { preferred } = request;
  if (
    preferred &&
    candidates.includes(preferred) &&
    isAvailable(preferred, nowMs) &&
    isLoaded(preferred, model)
  )
    return {
      ok: true,
      candidates: [preferred, ...candidates.filter((b) => b !== preferred)],
    };
  return { ok: true, candidates };
}
