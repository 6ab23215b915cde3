// Re-reads a settings file (keys, aliases, prices) when it changes, without a restart. Watches the directory:
// editors and `npm run keys` replace a file by rename, which ends a watch on the file itself. Debounced, and a
// change that leaves the text as it was is ignored. A file that cannot be watched is logged; SIGHUP still works.
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "../logger.ts";

const FILE_DEBOUNCE_MS = 200;

export interface FileWatch {
  /** Calls `reload` after `file` changed (nothing when `file` is undefined). */
  watch(file: string | undefined, reload: () => void): void;
  close(): void;
}

const readOrEmpty = (file: string): string => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

export function createFileWatch(logger: Logger): FileWatch {
  const watchers: FSWatcher[] = [];
  const debounce = new Map<string, NodeJS.Timeout>();
  const lastText = new Map<string, string>();
  return {
    watch(file, reload) {
      if (!file) return;
      const name = basename(file);
      try {
        const watcher = watch(dirname(file), (_event, changed) => {
          if (changed !== null && changed !== name && !changed.startsWith(".."))
            return;
          clearTimeout(debounce.get(file));
          const timer = setTimeout(() => {
            debounce.delete(file);
            const text = readOrEmpty(file);
            if (lastText.get(file) === text) return;
            lastText.set(file, text);
            reload();
          }, FILE_DEBOUNCE_MS);
          timer.unref();
          debounce.set(file, timer);
        });
        watcher.on("error", (error) =>
          logger.warn(
            { file, err: error.message },
            "cannot watch the file any more; SIGHUP still reloads it",
          ),
        );
        watcher.unref();
        watchers.push(watcher);
        // Unreadable now: the first change will load it.
        lastText.set(file, readOrEmpty(file));
      } catch (error) {
        logger.warn(
          { file, err: error instanceof Error ? error.message : String(error) },
          "cannot watch the file; SIGHUP still reloads it",
        );
      }
    },
    close() {
      for (const watcher of watchers) watcher.close();
      for (const timer of debounce.values()) clearTimeout(timer);
    },
  };
}
