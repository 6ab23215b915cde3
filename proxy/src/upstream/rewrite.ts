// The only two changes the proxy makes to an exchange's bytes, planned from the parsed request: a model alias
// (MODEL_ALIASES: the body names the real model, the response names the alias again) and OpenAI stream usage
// (the proxy asks for include_usage to count tokens and removes the frames it asked for). Pure planning; the
// response side is a byte rewriter the transport runs chunk by chunk.
import { createModelRewriter, rewriteModelField } from "../models/aliases.ts";
import { framingOf, type ResponseTap } from "./response-tap.ts";
import { withIncludeUsage, type Json } from "./request.ts";
import type { RequestInfo, Route } from "./types.ts";

export interface AliasUse {
  /** The name the client sent. */
  readonly requested: string;
  /** The model Ollama serves it with. */
  readonly served: string;
}

export interface RequestRewrite {
  /** The bytes to send: the client's own unless a rewrite applied, then the changed object serialised once. */
  readonly body: Buffer;
  /** Set when `body` differs from the client's: its length. */
  readonly rewrittenLength: number | undefined;
  readonly alias: AliasUse | undefined;
  /** The proxy asked for usage frames the client did not: they are removed from the response. */
  readonly stripUsage: boolean;
}

export interface RewriteOptions {
  readonly injectStreamUsage: boolean;
  readonly resolveAlias: ((model: string) => string | undefined) | undefined;
}

export function planRequestRewrite(
  route: Route,
  request: RequestInfo,
  json: Json | undefined,
  body: Buffer,
  options: RewriteOptions,
): RequestRewrite {
  const unchanged = {
    body,
    rewrittenLength: undefined,
    alias: undefined,
    stripUsage: false,
  };
  if (!json) return unchanged;
  let outgoing = json;
  let alias: AliasUse | undefined;
  const served =
    route.inference && request.model !== undefined
      ? options.resolveAlias?.(request.model)
      : undefined;
  if (served !== undefined && request.model !== undefined) {
    alias = { requested: request.model, served };
    outgoing = rewriteModelField(json, served);
  }
  let stripUsage = false;
  const openAiStream =
    route.op === "chat_completions" || route.op === "completions";
  if (
    options.injectStreamUsage &&
    openAiStream &&
    request.stream &&
    !request.includeUsage
  ) {
    const withUsage = withIncludeUsage(outgoing);
    if (withUsage) {
      outgoing = withUsage;
      stripUsage = true;
    }
  }
  if (outgoing === json) return unchanged;
  const rewritten = Buffer.from(JSON.stringify(outgoing), "utf8");
  return {
    body: rewritten,
    rewrittenLength: rewritten.length,
    alias,
    stripUsage,
  };
}

export interface ByteRewrite {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
  /** The tap already sees every byte through this rewrite (and is ended by it): do not feed it twice. */
  readonly feedsTap: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * The response side of a plan: SSE usage frames the proxy asked for are removed (by the tap, which parses the
 * events anyway) and the served model is written back as the alias. Undefined when nothing changes, e.g. a
 * stripped stream answered with an error body that is not SSE.
 */
export function createResponseRewrite(
  plan: Pick<RequestRewrite, "alias" | "stripUsage">,
  tap: ResponseTap | undefined,
  contentType: string | undefined,
): ByteRewrite | undefined {
  const stripper =
    plan.stripUsage && tap !== undefined && framingOf(contentType) === "sse"
      ? tap
      : undefined;
  const model = plan.alias
    ? createModelRewriter(plan.alias.served, plan.alias.requested)
    : undefined;
  if (!stripper && !model) return undefined;
  return {
    feedsTap: stripper !== undefined,
    push(chunk) {
      const kept = stripper ? stripper.pushAndStrip(chunk) : chunk;
      return model ? model.push(kept) : kept;
    },
    end() {
      const rest = stripper ? (stripper.end() ?? EMPTY) : EMPTY;
      return model ? Buffer.concat([model.push(rest), model.end()]) : rest;
    },
  };
}
