// The `ollama` command of the ollama/ollama stand-in image. `serve` runs the project's Ollama emulator on
// OLLAMA_HOST (the real server's setting, default 0.0.0.0:11434 in the image); the client subcommands ask that
// server over HTTP as the real CLI does, so that compose's healthcheck (`ollama list`) means the same thing.
// Exit codes follow the real CLI: 0 on success, 1 with "Error: …" on stderr.
export {};

const DEFAULT_PORT = 11434;

/** OLLAMA_HOST as the real CLI reads it: [scheme://]host[:port], default 127.0.0.1:11434. */
function ollamaHost(): { host: string; port: number } {
  const raw = (process.env.OLLAMA_HOST ?? "").trim();
  const url = new URL(
    /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw || "127.0.0.1"}`,
  );
  return {
    host: url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1",
    port: url.port ? Number(url.port) : DEFAULT_PORT,
  };
}

function clientBase(): string {
  const { host, port } = ollamaHost();
  const target = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `http://${target.includes(":") ? `[${target}]` : target}:${port}`;
}

async function api(path: string, init?: RequestInit): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${clientBase()}${path}`, {
      ...init,
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new Error("could not connect to ollama app, is it running?");
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: keep the text
    }
    throw new Error(message.trim() || `HTTP ${response.status}`);
  }
  return text
    ? (JSON.parse(text.split("\n").filter(Boolean).pop() ?? "{}") as unknown)
    : {};
}

interface ModelRow {
  name: string;
  digest?: string;
  size?: number;
  size_vram?: number;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) =>
    Math.max(...rows.map((r) => (r[i] ?? "").length)),
  );
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd((widths?.[i] ?? 0) + 4))
        .join("")
        .trimEnd(),
    )
    .join("\n");
}

const gb = (bytes = 0) => `${(bytes / 1e9).toFixed(1)} GB`;

async function serve(): Promise<void> {
  const { host, port } = ollamaHost();
  process.env.EMULATOR_HOST ??= host;
  process.env.EMULATOR_PORT ??= String(port);
  // The image keeps the repository's layout under /opt/app. main.ts parses process.argv: no `serve` there.
  const entry = new URL(
    "../../../fixtures/ollama-emulator/main.ts",
    import.meta.url,
  );
  process.argv = [process.argv[0] ?? "node", entry.pathname];
  await import(entry.href);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
    case "start":
      return serve();
    case "list":
    case "ls": {
      const { models = [] } = (await api("/api/tags")) as {
        models?: ModelRow[];
      };
      const rows = models.map((m) => [
        m.name,
        (m.digest ?? "").slice(0, 12),
        gb(m.size),
        "",
      ]);
      console.log(table([["NAME", "ID", "SIZE", "MODIFIED"], ...rows]));
      return;
    }
    case "ps": {
      const { models = [] } = (await api("/api/ps")) as { models?: ModelRow[] };
      const rows = models.map((m) => [
        m.name,
        (m.digest ?? "").slice(0, 12),
        gb(m.size_vram),
      ]);
      console.log(table([["NAME", "ID", "SIZE"], ...rows]));
      return;
    }
    case "pull": {
      const model = rest.find((a) => !a.startsWith("-"));
      if (!model)
        throw new Error("requires at least 1 arg(s), only received 0");
      const last = (await api("/api/pull", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ model, stream: false }),
      })) as { status?: string; error?: string };
      if (last.error) throw new Error(last.error);
      console.log(last.status ?? "success");
      return;
    }
    case "-v":
    case "--version":
    case "version": {
      const { version } = (await api("/api/version")) as { version?: string };
      console.log(
        `ollama version is ${version ?? "unknown"} (stand-in: Ollama emulator)`,
      );
      return;
    }
    default:
      throw new Error(
        `unknown command ${JSON.stringify(command ?? "")} (this stand-in knows serve, list, ps, pull, --version)`,
      );
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(
    `Error: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
