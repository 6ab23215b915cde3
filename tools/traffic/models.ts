// Which models to load, and which of them embed: from GET /api/tags and POST /api/show capabilities.
import type { Ollama } from "ollama";
import type { ModelSet } from "./workload.ts";

// Names of common embedding-only models, for servers that report no capabilities (Ollama before ~0.6).
const EMBEDDING_NAME =
  /embed|minilm|\bbge\b|bge-|\be5\b|e5-|gte-|nomic-embed|mxbai|arctic-embed|granite-embedding|paraphrase-|sentence-/i;

/** Pure: capabilities decide when known ("embedding" without "completion"); otherwise the name does. */
export function classifyModel(
  name: string,
  capabilities: readonly string[] | undefined,
): "chat" | "embedding" {
  if (capabilities !== undefined && capabilities.length > 0) {
    return capabilities.includes("embedding") &&
      !capabilities.includes("completion")
      ? "embedding"
      : "chat";
  }
  return EMBEDDING_NAME.test(name) ? "embedding" : "chat";
}

/** At most this many /api/show calls when /api/tags carries no capabilities. */
const MAX_SHOW_CALLS = 20;

async function capabilitiesOf(
  client: Ollama,
  name: string,
): Promise<string[] | undefined> {
  try {
    const shown = await client.show({ model: name });
    return Array.isArray(shown.capabilities) ? shown.capabilities : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sorts the given names (or, when `names` is undefined, every model in /api/tags) into chat and embedding
 * models. Errors from /api/tags propagate: the caller reports the server as unreachable.
 */
export async function discoverModels(
  client: Ollama,
  names: readonly string[] | undefined,
): Promise<ModelSet> {
  let candidates: { name: string; capabilities: string[] | undefined }[];
  if (names === undefined) {
    const listed = await client.list();
    // Cloud models (remote_host) would be sent to ollama.com and need a sign-in: not load to generate here.
    const local = listed.models.filter(
      (model) => !(model as { remote_host?: unknown }).remote_host,
    );
    candidates = local.map((model) => {
      // /api/tags has carried `capabilities` since ~0.12; ollama-js 0.6 does not type it.
      const capabilities = (model as { capabilities?: unknown }).capabilities;
      return {
        name: model.name,
        capabilities: Array.isArray(capabilities)
          ? capabilities.filter((c) => typeof c === "string")
          : undefined,
      };
    });
  } else {
    candidates = names.map((name) => ({ name, capabilities: undefined }));
  }
  const missing = candidates
    .filter((model) => model.capabilities === undefined)
    .slice(0, MAX_SHOW_CALLS);
  await Promise.all(
    missing.map(async (model) => {
      model.capabilities = await capabilitiesOf(client, model.name);
    }),
  );
  const models: ModelSet = { chat: [], embedding: [] };
  for (const model of candidates)
    models[classifyModel(model.name, model.capabilities)].push(model.name);
  return models;
}
