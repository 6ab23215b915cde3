// Where an admitted exchange goes when several Ollama servers stand behind the proxy: one backend chosen for a
// request that names a model (retried once elsewhere if it failed before any byte reached the client), the
// merged answer of every backend for the lists (/api/tags, /api/ps, /v1/models, /api/version), every backend
// for model management — or the one a client names in X-Ollama-Backend.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Backend, BackendPool } from "../backends/pool.ts";
import type { MergedRead } from "../backends/merge.ts";
import { normalizeModel } from "../models/model-names.ts";
import { conversationKey } from "../upstream/conversation.ts";
import { MODEL_MANAGEMENT_OPS } from "../upstream/routes.ts";
import type { Route } from "../upstream/types.ts";

export type Dispatch =
  | {
      readonly kind: "forward";
      readonly backends: readonly Backend[];
      /**
       * The model the backends were chosen for, when a failure before the response may be retried on another
       * backend that has it ("" for a request that names none).
       */
      readonly retryFor?: string;
      /** The request's conversation (backend affinity): the backend that serves it is remembered for it. */
      readonly conversation?: string;
    }
  | { readonly kind: "merge"; readonly read: MergedRead }
  | { readonly kind: "fan_out" }
  | {
      readonly kind: "refuse";
      readonly status: number;
      readonly reason: string;
      readonly message: string;
    };

function mergedRead(route: Route): MergedRead | undefined {
  switch (route.op) {
    case "tags":
    case "ps":
    case "version":
      return route.op;
    case "models":
      return route.endpoint === "/v1/models" ? "models" : undefined;
    default:
      return undefined;
  }
}

/** The model a request is about: its body's (after aliases), or /v1/models/{model}'s path. */
function modelOf(route: Route, path: string, model: string): string {
  if (model !== "" || route.endpoint !== "/v1/models/:model") return model;
  return normalizeModel(path.slice("/v1/models/".length));
}

export interface DispatchRequest {
  readonly route: Route;
  readonly path: string;
  /** Normalised, after aliases; "" when the request names none. */
  readonly model: string;
  readonly json: Record<string, unknown> | undefined;
}

/** `affinityHeader`: lower-case header whose value names the conversation (AFFINITY_HEADER). */
export function planDispatch(
  pool: BackendPool,
  request: DispatchRequest,
  headers: IncomingHttpHeaders,
  affinityHeader: string | undefined,
): Dispatch {
  const { route } = request;
  const named = pool.namedIn(headers);
  if (named && "ok" in named) return { kind: "refuse", ...named };
  if (named) return { kind: "forward", backends: [named] };
  if (!pool.several) return { kind: "forward", backends: pool.backends };
  const read = mergedRead(route);
  if (read) return { kind: "merge", read };
  if (MODEL_MANAGEMENT_OPS.has(route.op)) return { kind: "fan_out" };
  const model = modelOf(route, request.path, request.model);
  const header = affinityHeader ? headers[affinityHeader] : undefined;
  const conversation = pool.affinity
    ? conversationKey(
        route,
        request.json,
        model,
        typeof header === "string" ? header.slice(0, 256) : undefined,
      )
    : undefined;
  const choice = pool.choose(model, undefined, conversation);
  if (!choice.ok) return { kind: "refuse", ...choice };
  if (choice.backends.length === 0)
    return {
      kind: "refuse",
      status: 503,
      reason: "backends_busy",
      message: "no backend is available",
    };
  return {
    kind: "forward",
    backends: choice.backends,
    retryFor: model,
    conversation,
  };
}

/** A request whose body can be sent again: already read whole, or none at all. */
export function canResend(
  req: IncomingMessage,
  body: Buffer | undefined,
): boolean {
  if (body) return true;
  const length = req.headers["content-length"];
  return (
    req.headers["transfer-encoding"] === undefined &&
    (length === undefined || length === "0")
  );
}
