// CLI entry: `npm run traffic -- [options]` / `make traffic`. Parses the arguments, runs the traffic, shows a
// progress line on a TTY, prints the summary, and sets the exit code (1 when every request failed).
import { randomInt } from "node:crypto";
import { USAGE, parseTrafficArgs } from "./args.ts";
import { createProgressLine, formatSummary } from "./report.ts";
import { TrafficSetupError, runTraffic } from "./run.ts";

async function main(): Promise<number> {
  const parsed = parseTrafficArgs(
    process.argv.slice(2),
    process.env,
    randomInt(2 ** 31),
  );
  if (parsed.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(
      `traffic: ${parsed.reason}\nRun with --help for the options.\n`,
    );
    return 2;
  }
  const { options } = parsed;

  // First Ctrl-C: stop and summarise what was done; a second one quits at once.
  const interrupt = new AbortController();
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write(
      "\ntraffic: stopping (Ctrl-C again to quit at once)\n",
    );
    interrupt.abort();
  };
  process.on("SIGINT", onSigint);
  const progress = process.stderr.isTTY
    ? createProgressLine(process.stderr)
    : undefined;
  try {
    const run = await runTraffic(options, {
      signal: interrupt.signal,
      onProgress: progress?.update,
      onStart: (models) => {
        const list = (names: string[]) =>
          names.length > 0 ? names.join(", ") : "none";
        process.stderr.write(
          `traffic: ${options.mode} → ${options.url} (seed ${options.seed}); chat models: ${list(models.chat)}; ` +
            `embedding models: ${list(models.embedding)}\n`,
        );
      },
    });
    progress?.end();
    process.stdout.write(`${formatSummary(run.summary)}\n`);
    const { summary } = run;
    if (summary.requests > 0 && summary.ok === 0) {
      const kinds = Object.entries(summary.errorsByKind)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(", ");
      process.stderr.write(
        `traffic: every request to ${options.url} failed (${kinds}). Is the proxy running there? ` +
          `Start it with make up, or point --url / TRAFFIC_URL at it.\n`,
      );
      return 1;
    }
    return 0;
  } catch (error) {
    progress?.end();
    if (error instanceof TrafficSetupError) {
      process.stderr.write(`traffic: ${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    process.off("SIGINT", onSigint);
  }
}

process.exitCode = await main();
