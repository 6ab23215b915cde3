// Turns each finished exchange into its analytics record and hands it to the outbox. Runs after the client's
// response has ended; a fault here is logged and counted, never thrown back into the request path.
import type { PromptParts } from "../upstream/types.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { Metrics } from "../metrics/definitions.ts";
import type { ExchangeSummary } from "../exchange/outcome.ts";
import type { RecordEnvelope } from "../delivery/envelope.ts";
import { countDropped } from "../delivery/outbox.ts";
import { buildRecord, toEnvelope, type RecordOptions } from "./record.ts";
import { createRedactor, DEFAULT_REDACT_PATTERNS } from "./redact.ts";

export interface Recorder {
  /** `costUsd`: the request's estimated cost (access.costOf), priced where the pricing table lives. */
  record(summary: ExchangeSummary, costUsd?: number): void;
}

export interface RecorderDeps {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly enqueue: (envelope: RecordEnvelope) => void;
  readonly categorize: (prompt: string, parts?: PromptParts) => string;
}

/** REDACT_*: the redaction records apply, and traces too when they carry content. */
export function redactorFrom(config: Config): (text: string) => string {
  return createRedactor(
    config.redact.defaults
      ? { ...DEFAULT_REDACT_PATTERNS, ...config.redact.patterns }
      : config.redact.patterns,
  );
}

export function recordOptionsFrom(
  config: Config,
  deps: Pick<RecorderDeps, "categorize">,
): RecordOptions {
  return {
    capturePrompts: config.capture.prompts,
    captureResponses: config.capture.responses,
    maxChars: config.capture.maxChars,
    maxLineBytes: config.loki.maxLineBytes,
    redact: redactorFrom(config),
    categorize: deps.categorize,
  };
}

export function createRecorder(config: Config, deps: RecorderDeps): Recorder {
  const options = recordOptionsFrom(config, deps);
  return {
    record(summary, costUsd) {
      try {
        const record = buildRecord(summary, options, costUsd);
        if (summary.route.inference)
          deps.metrics.promptCategory.inc({
            model: summary.modelLabel,
            category: record.category,
          });
        deps.enqueue(toEnvelope(record, options.maxLineBytes));
      } catch (error) {
        countDropped(deps.metrics, "build_failed", 1);
        deps.logger.error(
          { err: error, request_id: summary.requestId },
          "could not build an analytics record",
        );
      }
    },
  };
}
