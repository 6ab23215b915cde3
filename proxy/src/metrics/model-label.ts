// Cardinality guard for the `model` label: only models Ollama reports (or has just served) become label
// values; anything a client makes up becomes "_other" (reference/observability.md §6.1).

import { normalizeModel } from "../models/model-names.ts";

export const OTHER_MODEL = "_other";

export interface ModelAllowList {
  /** The label for a normalised model name. */
  label(model: string): string;
  /** Replaces the list with what /api/tags reported. */
  replace(models: Iterable<string>): void;
  /** Adds a model Ollama has just served successfully (bounded). */
  admit(model: string): void;
  readonly size: number;
}

export function createModelAllowList(maxSize = 5000): ModelAllowList {
  let known = new Set<string>();
  return {
    label(model) {
      if (model === "") return "";
      return known.has(model) ? model : OTHER_MODEL;
    },
    replace(models) {
      const next = new Set<string>();
      for (const model of models) {
        if (next.size >= maxSize) break;
        next.add(normalizeModel(model));
      }
      known = next;
    },
    admit(model) {
      if (model !== "" && known.size < maxSize) known.add(model);
    },
    get size() {
      return known.size;
    },
  };
}
