// Replaces secrets and personal data with `[REDACTED:<name>]` before a record leaves the process.
// Pure: a Redactor is built once from the configured patterns and applied to every string of a record.

/** The default set (REDACT_DEFAULTS=true). Names appear in the replacement so a reader knows what was there. */
export const DEFAULT_REDACT_PATTERNS: Readonly<Record<string, string>> = {
  private_key: String.raw`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`,
  bearer_token: String.raw`\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{8,}=*`,
  openai_key: String.raw`\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_-]{20,}`,
  aws_access_key: String.raw`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`,
  github_token: String.raw`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b`,
  slack_token: String.raw`\bxox[abprs]-[A-Za-z0-9-]{10,}`,
  jwt: String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`,
  secret_assignment: String.raw`\b(?:api[_-]?key|secret|passw(?:or)?d|access[_-]?token)\b["']?\s*[:=]\s*["']?[^\s"',;]{6,}`,
  email: String.raw`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b`,
  card_number: String.raw`\b\d(?:[ -]?\d){12,18}\b`,
};

export type Redactor = (text: string) => string;

/** Luhn checksum, so that order numbers and timestamps are not taken for card numbers. */
function passesLuhn(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, "");
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length >= 13 && sum % 10 === 0;
}

export function createRedactor(
  patterns: Readonly<Record<string, string>>,
): Redactor {
  const compiled = Object.entries(patterns).map(([name, source]) => ({
    name,
    pattern: new RegExp(source, "g"),
    replacement: `[REDACTED:${name}]`,
  }));
  if (compiled.length === 0) return (text) => text;
  return (text) => {
    let result = text;
    for (const { name, pattern, replacement } of compiled) {
      pattern.lastIndex = 0;
      if (!pattern.test(result)) continue;
      pattern.lastIndex = 0;
      result =
        name === "card_number"
          ? result.replace(pattern, (match) =>
              passesLuhn(match) ? replacement : match,
            )
          : result.replace(pattern, replacement);
    }
    return result;
  };
}
