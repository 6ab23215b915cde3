// One Ollama made of several: the answers of every healthy backend to /api/tags, /api/ps, /v1/models and
// /api/version merged into the one a single server would give. Pure: parsed bodies in, a body out.
import { normalizeModel } from "../models/model-names.ts";

export type MergedRead = "tags" | "ps" | "models" | "version";

type Json = Record<string, unknown>;

function listOf(body: unknown, key: string): Json[] {
  const list = (body as Json | null)?.[key];
  return Array.isArray(list)
    ? list.filter((m): m is Json => typeof m === "object" && m !== null)
    : [];
}

function nameKey(entry: Json, field: string): string {
  const name = entry[field];
  return typeof name === "string" ? normalizeModel(name).toLowerCase() : "";
}

/** A version's numbers, for ordering ("0.33.3" → [0, 33, 3]; a pre-release sorts before its release). */
function versionKey(version: string): number[] {
  const [core = "", pre] = version.replace(/^v/, "").split("-", 2);
  const numbers = core.split(".").map((part) => Number.parseInt(part, 10));
  return [
    ...[0, 1, 2].map((i) => (Number.isFinite(numbers[i]) ? numbers[i]! : 0)),
    pre === undefined ? 1 : 0,
  ];
}

export function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  for (let i = 0; i < ka.length; i++) {
    const d = (ka[i] ?? 0) - (kb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Merges the bodies (in backend order) of one read. Tags and /v1/models list a model once however many backends
 * have it; /api/ps lists each loaded instance; /api/version is the lowest, so that no client expects a feature
 * one backend lacks.
 */
export function mergeReads(read: MergedRead, bodies: readonly unknown[]): Json {
  switch (read) {
    case "tags":
    case "models": {
      const [key, field] =
        read === "tags" ? ["models", "name"] : ["data", "id"];
      const seen = new Set<string>();
      const merged: Json[] = [];
      for (const body of bodies)
        for (const entry of listOf(body, key)) {
          const name = nameKey(entry, field);
          if (name === "" || seen.has(name)) continue;
          seen.add(name);
          merged.push(entry);
        }
      return read === "tags"
        ? { models: merged }
        : { object: "list", data: merged };
    }
    case "ps":
      return { models: bodies.flatMap((body) => listOf(body, "models")) };
    case "version": {
      const versions = bodies
        .map((body) => (body as Json | null)?.version)
        .filter((v): v is string => typeof v === "string");
      const lowest = versions.sort(compareVersions)[0];
      return { version: lowest ?? "unknown" };
    }
  }
}
