// API keys: creating a secret, hashing it, finding the key a request presents, and removing the credentials
// before a request goes to Ollama. Keys are stored and compared only as SHA-256 digests; nothing here logs.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";
import type { ClientLimits } from "./limits.ts";
import { compileModelGlob, type ModelMatcher } from "../models/model-names.ts";

export type Role = "user" | "admin";

export interface KeyEntry {
  /** Shown in records and metric labels; validated to a safe character set when the file is read. */
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the secret (32 bytes). Never logged, never a label. */
  readonly digest: Buffer;
  /** Allowed model globs; undefined means every model. */
  readonly models: readonly string[] | undefined;
  /** Per-key overrides of the LIMIT_* defaults; 0 means unlimited. */
  readonly limits: Partial<ClientLimits>;
  /** May use Ollama's web search and fetch (they spend the server's ollama.com quota); admin keys always may. */
  readonly web?: boolean;
}

/** Prefix of generated secrets: makes a leaked key recognisable to secret scanners and to people. */
export const KEY_PREFIX = "olp_";
const HASH_TEXT = /^sha256:([0-9a-fA-F]{64})$/;
/** Longest secret we hash: anything longer is not one of ours and costs nothing to reject. */
const MAX_SECRET_LENGTH = 512;

/** A new secret: 32 random bytes, base64url, with the recognisable prefix. */
export function generateKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function digestOf(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** The form written to the keys file: `sha256:<64 lower-case hex>`. */
export function hashKey(secret: string): string {
  return `sha256:${digestOf(secret).toString("hex")}`;
}

/** `sha256:<hex>` → the 32-byte digest, or undefined when the text is not in that form. */
export function parseKeyHash(text: string): Buffer | undefined {
  const match = HASH_TEXT.exec(text);
  return match ? Buffer.from(match[1]!.toLowerCase(), "hex") : undefined;
}

const headerValue = (value: string | string[] | undefined) =>
  Array.isArray(value) ? value[0] : value;

/**
 * The secret a request presents: `X-API-Key` (the Anthropic SDK's header, and the explicit choice when a client
 * also sends a placeholder bearer token) or else `Authorization: Bearer <key>` (OpenAI SDKs, Open WebUI).
 */
export function extractKey(headers: IncomingHttpHeaders): string | undefined {
  const explicit = headerValue(headers["x-api-key"])?.trim();
  if (explicit) return explicit.length <= MAX_SECRET_LENGTH ? explicit : "";
  const authorization = headerValue(headers.authorization)?.trim();
  if (!authorization) return undefined;
  const match = /^bearer\s+(\S+)$/i.exec(authorization);
  if (!match) return "";
  const token = match[1]!;
  return token.length <= MAX_SECRET_LENGTH ? token : "";
}

/** Removes every header that may carry a proxy key, so that no key reaches Ollama. */
export function stripKeyHeaders(headers: IncomingHttpHeaders): void {
  delete headers.authorization;
  delete headers["x-api-key"];
}

export interface KeyRing {
  /** The key whose digest equals the secret's, compared in constant time against every key. */
  find(secret: string): KeyEntry | undefined;
  /** Whether `model` is one the key may use (always true without a models list). */
  allows(entry: KeyEntry, model: string): boolean;
  has(name: string): boolean;
  readonly size: number;
}

export function createKeyRing(entries: readonly KeyEntry[]): KeyRing {
  const names = new Set(entries.map((entry) => entry.name));
  const matchers = new Map<KeyEntry, readonly ModelMatcher[]>();
  for (const entry of entries)
    if (entry.models) matchers.set(entry, entry.models.map(compileModelGlob));
  return {
    find(secret) {
      if (secret === "" || secret.length > MAX_SECRET_LENGTH) return undefined;
      const digest = digestOf(secret);
      let found: KeyEntry | undefined;
      // No early exit: the time taken does not depend on which key (if any) matched.
      for (const entry of entries) {
        if (timingSafeEqual(digest, entry.digest) && found === undefined)
          found = entry;
      }
      return found;
    },
    allows(entry, model) {
      const list = matchers.get(entry);
      return list === undefined || list.some((match) => match(model));
    },
    has: (name) => names.has(name),
    size: entries.length,
  };
}
