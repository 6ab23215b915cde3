// Which conversation a request belongs to, for backend affinity: the turns of one chat share their leading
// messages (the system prompt and the first user message), so they get one key, and staying on one backend lets
// Ollama reuse the prompt it already evaluated. Pure: the parsed body in, a key (or none) out.
import { createHash } from "node:crypto";
import type { Route } from "./types.ts";

type Json = Record<string, unknown>;

/** Messages up to and including the first user message (Ollama, OpenAI and Anthropic chat shapes). */
function leadingMessages(json: Json): unknown[] | undefined {
  const messages = json.messages;
  if (!Array.isArray(messages)) return undefined;
  const firstUser = messages.findIndex(
    (m) => typeof m === "object" && m !== null && (m as Json).role === "user",
  );
  return firstUser < 0 ? undefined : messages.slice(0, firstUser + 1);
}

/**
 * The conversation key of a request: the client's own id when `headerValue` is given (e.g. Open WebUI's chat id),
 * else a digest of the model and the leading messages of a chat request. Undefined for anything else (a
 * completion has no turns to share).
 */
export function conversationKey(
  route: Route,
  json: Json | undefined,
  model: string,
  headerValue: string | undefined,
): string | undefined {
  if (headerValue) return `h:${model}\u0000${headerValue}`;
  if (!route.inference || !json) return undefined;
  const leading = leadingMessages(json);
  if (!leading) return undefined;
  const system = typeof json.system === "string" ? json.system : "";
  return `m:${createHash("sha1")
    .update(model)
    .update("\u0000")
    .update(system)
    .update("\u0000")
    .update(JSON.stringify(leading))
    .digest("base64url")}`;
}
