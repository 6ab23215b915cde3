// The contract between the exchange's owner and whoever decides whether a request may go on (keys, limits):
// what the decider is told, and what it may answer.
import type { IncomingMessage } from "node:http";
import type { RequestInfo, Route } from "../upstream/types.ts";
import type { ExchangeSummary } from "./outcome.ts";

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
