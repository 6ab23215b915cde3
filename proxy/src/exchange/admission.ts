// The contract between the exchange's owner and whoever decides whether a request may go on (keys, limits):
// what the decider is told, and what it may answer.
import type { IncomingMessage } from "node:http";
import type { RequestInfo, Route } from "../upstream/types.ts";
import { normalizeModel } from "../models/model-names.ts";
import type { ExchangeSummary } from "./outcome.ts";
import type { Exchange } from "./state.ts";

export type Admission =
  | {
      ok: true;
      client?: string;
      /** Gives the grant back; the owner calls it exactly once, also when the client left while waiting. */
      release?: (summary: ExchangeSummary) => void;
      headers?: Record<string, string>;
    }
  | {
      ok: false;
      status: number;
      message: string;
      reason: string;
      headers?: Record<string, string>;
    };

export interface AdmissionContext {
  readonly req: IncomingMessage;
  readonly route: Route;
  readonly request: RequestInfo;
  /** The model as the client named it (normalised), before any alias is resolved. */
  readonly model: string;
  readonly clientIp: string;
  /** The parsed request body, when it is a JSON object. */
  readonly json?: Record<string, unknown>;
  /** Aborted when the exchange ends before the answer (the client left): a queued request stops waiting. */
  readonly signal: AbortSignal;
}

export type Admit = (
  context: AdmissionContext,
) => Admission | Promise<Admission>;

/**
 * What the decider is told about an exchange. A class, its getter on the prototype: given an object literal with
 * its own `get signal()` instead, the request thread promoted 22 % of its allocation to the old generation (every
 * request, with all it holds), with this class 2–3 % (measured in docs/performance.md).
 */
export class ExchangeAdmission implements AdmissionContext {
  readonly route: Route;
  readonly request: RequestInfo;
  readonly model: string;
  readonly clientIp: string;
  readonly json: Record<string, unknown> | undefined;
  readonly req: IncomingMessage;
  readonly #ex: Exchange;

  constructor(req: IncomingMessage, ex: Exchange) {
    this.req = req;
    this.route = ex.route;
    this.request = ex.request;
    this.model = normalizeModel(ex.request.model ?? "");
    this.clientIp = ex.clientIp;
    this.json = ex.json;
    this.#ex = ex;
  }

  // Most admissions never wait; the controller is made for those that do.
  get signal(): AbortSignal {
    const ex = this.#ex;
    if (!ex.abort) {
      ex.abort = new AbortController();
      if (ex.finished) ex.abort.abort();
    }
    return ex.abort.signal;
  }
}
