// Conversation → the backend that served its last turn, so that the next turn goes where Ollama still holds its
// prompt. Bounded (least recently used out first) and forgetful: an entry older than `ttlMs` is gone, as the
// prompt cache of an idle model is.
export interface Affinity {
  backendFor(key: string, nowMs: number): string | undefined;
  remember(key: string, backend: string, nowMs: number): void;
  readonly size: number;
}

export function createAffinity(maxEntries: number, ttlMs: number): Affinity {
  const entries = new Map<string, { backend: string; atMs: number }>();
  return {
    backendFor(key, nowMs) {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (nowMs - entry.atMs > ttlMs) {
        entries.delete(key);
        return undefined;
      }
      return entry.backend;
    },
    remember(key, backend, nowMs) {
      entries.delete(key);
      entries.set(key, { backend, atMs: nowMs });
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
