// /healthz: the process is alive. /readyz: Ollama answers right now (a live /api/version call), so that an
// orchestrator only routes traffic to a proxy that can forward it.
import type { Request, Response } from "express";

export function healthz(_req: Request, res: Response): void {
  res.json({ status: "ok" });
}

export function createReadyz(ollamaUrl: string, timeoutMs = 2000) {
  return async (_req: Request, res: Response): Promise<void> => {
    try {
      const upstream = await fetch(`${ollamaUrl}/api/version`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!upstream.ok)
        throw new Error(`/api/version answered ${upstream.status}`);
      const { version } = (await upstream.json()) as { version?: string };
      res.json({ status: "ready", ollama: { url: ollamaUrl, version } });
    } catch (error) {
      res.status(503).json({
        status: "unavailable",
        error: `ollama is not reachable: ${String(error)}`,
      });
    }
  };
}
