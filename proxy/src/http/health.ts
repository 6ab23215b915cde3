// /healthz: the process is alive. /readyz: an Ollama answers right now (a live /api/version call to each
// backend), so that an orchestrator only routes traffic to a proxy that can forward it.
import type { Request, Response } from "express";

export function healthz(_req: Request, res: Response): void {
  res.json({ status: "ok" });
}

interface ReadyBackend {
  readonly name: string;
  readonly url: string;
}

async function versionOf(url: string, timeoutMs: number): Promise<string> {
  const upstream = await fetch(`${url}/api/version`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!upstream.ok) throw new Error(`/api/version answered ${upstream.status}`);
  const { version } = (await upstream.json()) as { version?: unknown };
  return typeof version === "string" ? version : "unknown";
}

/** Ready while at least one backend answers; the answer lists each. */
export function createReadyz(
  backends: readonly ReadyBackend[],
  timeoutMs = 2000,
) {
  return async (_req: Request, res: Response): Promise<void> => {
    const answers = await Promise.all(
      backends.map(async (backend) => {
        try {
          return {
            name: backend.name,
            url: backend.url,
            version: await versionOf(backend.url, timeoutMs),
          };
        } catch (error) {
          return { name: backend.name, url: backend.url, error: String(error) };
        }
      }),
    );
    const up = answers.filter((a) => "version" in a);
    if (up.length === 0) {
      res.status(503).json({
        status: "unavailable",
        error: `ollama is not reachable: ${answers.map((a) => ("error" in a ? a.error : "")).join("; ")}`,
        backends: answers,
      });
      return;
    }
    const [only] = answers;
    res.json(
      answers.length === 1 && only && "version" in only
        ? { status: "ready", ollama: { url: only.url, version: only.version } }
        : { status: "ready", backends: answers },
    );
  };
}
