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

function byLoad(
  states: BackendState[],
  turn: number,
  all: readonly BackendState[],
): BackendState[] {
  const n = all.length;
  const position = (state: BackendState) =>
    (((all.indexOf(state) - turn) % n) + n) % n;
  return states.sort((a, b) => load(a) - load(b) || position(a) - position(b));
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
  const open = backends.filter((b) => !exclude?.has(b));
  const healthy = open.filter((b) => isAvailable(b, nowMs));
  const tiers: BackendState[][] =
    model === ""
      ? [healthy, open.filter((b) => !isAvailable(b, nowMs))]
      : [
          healthy.filter((b) => isLoaded(b, model)),
          healthy.filter((b) => !isLoaded(b, model) && b.models?.has(model)),
          healthy.filter((b) => b.models === undefined),
          open.filter((b) => !isAvailable(b, nowMs) && b.models?.has(model)),
        ];
  const withModel = tiers.flat();
  if (withModel.length === 0) {
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
  const candidates = tiers.flatMap((tier) =>
    byLoad(
      tier.filter((b) => !atCap(b)),
      turn,
      backends,
    ),
  );
  if (candidates.length === 0)
    return {
      ok: false,
      status: 503,
      reason: "backends_busy",
      message: `every backend that has ${model === "" ? "room" : `model "${model}"`} is at its max_concurrent`,
    };
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
