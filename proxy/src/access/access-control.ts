// Access control, as one admission hook for the proxy: who may call (API keys), what they may do (admin-only
// model management, web tools, allowed models), and how much (limiter.ts). Owns the watched keys, aliases and
// pricing files; never logs a key, a hash or a header value.
import { timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { Admission, AdmissionContext } from "../exchange/admission.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import { isModelKeySpelling, resolveAlias } from "../models/aliases.ts";
import { createPricer, type Pricer } from "../models/pricing.ts";
import { MODEL_MANAGEMENT_OPS } from "../upstream/routes.ts";
import type { Op } from "../upstream/types.ts";
import {
  loadAliases,
  loadKeys,
  loadPricing,
  type AccessConfig,
} from "./access-config.ts";
import { deny } from "./denials.ts";
import { createFileWatch } from "./file-watch.ts";
import {
  createKeyRing,
  digestOf,
  extractKey,
  stripKeyHeaders,
  type KeyEntry,
  type KeyRing,
} from "./keys.ts";
import { createLimiter } from "./limiter.ts";
import type { ClientLimits } from "./limits.ts";

/** The admission context, plus the parsed request body when the proxy has one (for the ambiguous-key check). */
export type AccessContext = AdmissionContext & {
  readonly json?: Record<string, unknown>;
};

export interface AccessControl {
  admit(context: AccessContext): Admission | Promise<Admission>;
  /** Bounded metric label: a configured key name, anything else `_other`. */
  clientLabelOf(client: string): string;
  /** MODEL_ALIASES: the real model behind a client-facing name, or undefined. */
  resolveAlias(model: string): string | undefined;
  /** PRICING_FILE: the estimated cost, or undefined when the model has no price. */
  costOf(
    model: string,
    promptTokens: number,
    completionTokens: number,
  ): number | undefined;
  /**
   * For the proxy's own admin endpoints (/analytics, which serves every prompt): ok for an admin key or the
   * admin token (ANALYTICS_TOKEN), 401/403 otherwise. Never open: with keys off and no token it refuses all.
   */
  authorizeAdmin(headers: IncomingHttpHeaders): Admission;
  /** Removes the key headers (only when keys are on: otherwise they are the client's business with Ollama). */
  stripCredentials(headers: IncomingHttpHeaders): void;
  /** Re-reads the keys, aliases and pricing files; a bad file keeps the previous version and logs why. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface AccessDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** REDIS_URL: share limits with every replica using the same Redis. */
  readonly redisUrl?: string;
  /** Watch the files named in the config and reload on change (default true). */
  readonly watchFiles?: boolean;
  /** ANALYTICS_TOKEN: a bearer token that opens the proxy's admin endpoints, with keys on or off. */
  readonly adminToken?: string;
}

export const OTHER_CLIENT = "_other";
/** The `client` of requests authorised by ANALYTICS_TOKEN. */
export const ADMIN_TOKEN_CLIENT = "analytics-token";

/**
 * Routes that change what Ollama has installed (reference/ollama-api.md §8) or act on the server's ollama.com
 * account (sign it out for everyone, show it): admin keys only.
 */
export const ADMIN_OPS: ReadonlySet<Op> = new Set([
  ...MODEL_MANAGEMENT_OPS,
  "me",
  "signout",
]);

/** Ollama's web search and fetch spend the account's quota: admin keys, and keys with `web: true`. */
export const WEB_OPS: ReadonlySet<Op> = new Set(["web_search", "web_fetch"]);

const WWW_AUTHENTICATE = { "WWW-Authenticate": 'Bearer realm="ollama-proxy"' };

export function createAccessControl(
  config: AccessConfig,
  deps: AccessDeps,
): AccessControl {
  const { logger } = deps;
  const limiter = createLimiter(config, deps);
  const keysEnabled = config.keysFile !== undefined;
  const adminTokenDigest =
    deps.adminToken !== undefined ? digestOf(deps.adminToken) : undefined;
  let ring: KeyRing = createKeyRing(config.keys);
  let aliases: ReadonlyMap<string, string> = config.aliases;
  let pricer: Pricer | undefined = config.pricing
    ? createPricer(config.pricing)
    : undefined;

  const checkModel = (
    key: KeyEntry,
    context: AccessContext,
  ): Admission | undefined => {
    const model = context.model;
    const refuse = (message: string) => deny(403, "forbidden_model", message);
    // Ollama reads a body JSON.parse cannot (trailing bytes after the object) and matches keys case-insensitively
    // (Go's encoding/json): an unknown or ambiguous model could slip past the check, so a restricted key needs a
    // model we can see.
    if (model === "")
      return refuse(
        "this API key is limited to some models and the request names none that the proxy can read",
      );
    if (
      context.json &&
      Object.keys(context.json).some(
        (field) => field !== "model" && isModelKeySpelling(field),
      )
    )
      return refuse('the request spells the "model" field more than one way');
    const target = resolveAlias(aliases, model);
    if (
      ring.allows(key, model) ||
      (target !== undefined && ring.allows(key, target))
    )
      return undefined;
    return refuse(`model "${model}" is not allowed for this API key`);
  };

  const reloadKeys = () => {
    if (!config.keysFile) return;
    const loaded = loadKeys(config.keysFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.keysFile, problem: loaded.problem },
        "keys file rejected, keeping the previous keys",
      );
      return;
    }
    ring = createKeyRing(loaded.keys);
    logger.info(
      { file: config.keysFile, keys: loaded.keys.length },
      "API keys loaded",
    );
  };
  const reloadAliases = () => {
    if (!config.aliasesFile) return;
    const loaded = loadAliases(config.aliasesFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.aliasesFile, problem: loaded.problem },
        "aliases file rejected, keeping the previous aliases",
      );
      return;
    }
    aliases = loaded.aliases;
    logger.info(
      { file: config.aliasesFile, aliases: loaded.aliases.size },
      "model aliases loaded",
    );
  };
  const reloadPricing = () => {
    if (!config.pricingFile) return;
    const loaded = loadPricing(config.pricingFile);
    if (!loaded.ok) {
      logger.warn(
        { file: config.pricingFile, problem: loaded.problem },
        "pricing file rejected, keeping the previous prices",
      );
      return;
    }
    pricer = createPricer(loaded.table);
    logger.info(
      { file: config.pricingFile, models: loaded.table.entries.length },
      "prices loaded",
    );
  };

  const files = createFileWatch(logger);
  if (deps.watchFiles !== false) {
    files.watch(config.keysFile, reloadKeys);
    files.watch(config.aliasesFile, reloadAliases);
    files.watch(config.pricingFile, reloadPricing);
  }

  /** The key a request presents, or the refusal (401) when keys are on and it presents none that is valid. */
  const identify = (
    headers: IncomingHttpHeaders,
  ): { key: KeyEntry } | { refused: Admission } => {
    const secret = extractKey(headers);
    if (secret === undefined)
      return {
        refused: deny(
          401,
          "unauthorized",
          "missing API key: send Authorization: Bearer <key> or X-API-Key: <key>",
          WWW_AUTHENTICATE,
        ),
      };
    const key = ring.find(secret);
    return key
      ? { key }
      : {
          refused: deny(
            401,
            "unauthorized",
            "invalid API key",
            WWW_AUTHENTICATE,
          ),
        };
  };

  return {
    admit(context) {
      const { req, route } = context;
      // A CORS preflight carries no credentials by design; Ollama answers it and it reaches no model.
      if (req.method === "OPTIONS") return { ok: true };
      let key: KeyEntry | undefined;
      if (keysEnabled && route.op !== "root") {
        const identity = identify(req.headers);
        if ("refused" in identity) return identity.refused;
        key = identity.key;
        if (
          ADMIN_OPS.has(route.op) &&
          !config.adminRoutesOpen &&
          key.role !== "admin"
        )
          return deny(
            403,
            "admin_required",
            "model management (pull, push, create, copy, delete, blobs) and the server's account (me, signout) need an admin API key",
          );
        if (WEB_OPS.has(route.op) && key.role !== "admin" && !key.web)
          return deny(
            403,
            "admin_required",
            "web search and fetch need an admin API key or a key with web: true",
          );
        if (route.inference && key.models !== undefined) {
          const refused = checkModel(key, context);
          if (refused) return refused;
        }
      }
      if (!route.inference) return { ok: true, client: key?.name };
      const limits: ClientLimits = key
        ? { ...config.defaultLimits, ...key.limits }
        : config.defaultLimits;
      // Nothing to count: answer synchronously, no promise on the hot path.
      if (!limiter.needsCounting(limits))
        return { ok: true, client: key?.name };
      const subject = key ? `key:${key.name}` : `ip:${context.clientIp}`;
      return limiter.admit(context, subject, key?.name, limits);
    },
    authorizeAdmin(headers) {
      const presented = extractKey(headers);
      if (
        adminTokenDigest &&
        presented !== undefined &&
        timingSafeEqual(digestOf(presented), adminTokenDigest)
      )
        return { ok: true, client: ADMIN_TOKEN_CLIENT };
      if (!keysEnabled)
        return deny(
          401,
          "unauthorized",
          adminTokenDigest
            ? "missing or wrong token: send Authorization: Bearer <ANALYTICS_TOKEN>"
            : "closed: set ANALYTICS_TOKEN (make up generates one) or turn API keys on",
          WWW_AUTHENTICATE,
        );
      const identity = identify(headers);
      if ("refused" in identity) return identity.refused;
      if (identity.key.role !== "admin")
        return deny(
          403,
          "admin_required",
          "this endpoint needs an admin API key",
        );
      return { ok: true, client: identity.key.name };
    },
    clientLabelOf(client) {
      return client !== "" && ring.has(client) ? client : OTHER_CLIENT;
    },
    resolveAlias(model) {
      return resolveAlias(aliases, model);
    },
    costOf(model, promptTokens, completionTokens) {
      return pricer?.costOf(model, promptTokens, completionTokens);
    },
    stripCredentials(headers) {
      if (keysEnabled) stripKeyHeaders(headers);
    },
    reload() {
      reloadKeys();
      reloadAliases();
      reloadPricing();
      return Promise.resolve();
    },
    async close() {
      files.close();
      await limiter.close();
    },
  };
}
