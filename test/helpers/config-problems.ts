// The problems a settings loader reports for an environment (one line per bad variable), or none.
import { loadConfig } from "@proxy/config.ts";
import { ConfigError } from "@proxy/settings.ts";

export function configProblems(
  env: Record<string, string>,
  load: (env: Record<string, string>) => unknown = loadConfig,
): string[] {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}
