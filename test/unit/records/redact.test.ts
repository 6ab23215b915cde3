import { describe, expect, it } from "vitest";
import {
  createRedactor,
  DEFAULT_REDACT_PATTERNS,
} from "@proxy/records/redact.ts";

const redact = createRedactor(DEFAULT_REDACT_PATTERNS);

describe("default redaction", () => {
  it.each([
    ["my key is sk-proj-abcdefghijklmnopqrstuvwxyz123456", "openai_key"],
    ["Authorization: Bearer abc.def-ghi_jkl~mno", "bearer_token"],
    ["AKIAIOSFODNN7EXAMPLE is the id", "aws_access_key"],
    ["token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "github_token"],
    ["mail jane.doe+x@example.co.uk today", "email"],
    ["card 4111 1111 1111 1111 exp 12/30", "card_number"],
    [
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
      "jwt",
    ],
    ['config: api_key = "s3cr3t-value-123"', "secret_assignment"],
    [
      "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
      "private_key",
    ],
  ])("replaces %j with its pattern name", (text, name) => {
    const result = redact(text);
    expect(result).toContain(`[REDACTED:${name}]`);
  });

  it("keeps numbers that are not card numbers (Luhn check)", () => {
    expect(redact("order 1234 5678 9012 3456 shipped")).toBe(
      "order 1234 5678 9012 3456 shipped",
    );
  });

  it("leaves ordinary prose alone", () => {
    const text =
      "Summarize the quarterly report in three bullet points, please.";
    expect(redact(text)).toBe(text);
  });

  it("applies custom patterns and can run without the defaults", () => {
    const custom = createRedactor({ employee_id: "EMP-\\d{6}" });
    expect(custom("EMP-123456 asked; mail a@b.io")).toBe(
      "[REDACTED:employee_id] asked; mail a@b.io",
    );
  });
});
