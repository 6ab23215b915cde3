import { describe, expect, it } from "vitest";
import {
  buildSearchQuery,
  buildSelector,
  buildStatsQueries,
  escapeRegex,
  formatLogqlDuration,
  logqlString,
  parseLogqlString,
  STAT_QUERY_KEYS,
} from "@proxy/analytics-api/logql.ts";
import { HOSTILE_VALUES } from "../../fixtures/hostile-strings.ts";

const selector = {
  service_name: "ollama-proxy",
  log_type: "request",
  env: "dev",
};

describe("logqlString", () => {
  it("double-quotes plain values", () => {
    expect(logqlString("llama3.2:latest")).toBe('"llama3.2:latest"');
  });

  it("uses a raw backtick string when the value has quotes or backslashes", () => {
    expect(logqlString('"model":"x"')).toBe('`"model":"x"`');
    expect(logqlString("a\\.b")).toBe("`a\\.b`");
  });

  it("falls back to an escaped double-quoted string for backticks and control characters", () => {
    expect(logqlString("a`b")).toBe('"a`b"');
    expect(logqlString('a`"b')).toBe('"a`\\"b"');
    expect(logqlString("a\nb")).toBe('"a\\nb"');
    expect(logqlString("\u0000")).toBe('"\\u0000"');
  });

  it.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v).slice(0, 40), v]))(
    "decodes back to the original value: %s",
    (_name, value) => {
      expect(parseLogqlString(logqlString(value))).toBe(value);
    },
  );

  it("replaces lone surrogates, which Loki would reject as invalid UTF-8", () => {
    const literal = logqlString("a\ud800b");
    expect(parseLogqlString(literal)).toBe("a\ufffdb");
  });
});

describe("parseLogqlString", () => {
  it("decodes Go escapes", () => {
    expect(parseLogqlString('"\\x41\\101\\u00e9\\U0001F999\\a\\v"')).toBe(
      "AAé🦙\u0007\u000b",
    );
    expect(parseLogqlString("'it\\'s'")).toBe("it's");
  });

  it.each([
    ['"\\\'"', "\\' is not an escape inside double quotes"],
    ['"\\q"', "unknown escape"],
    ['"a\nb"', "raw newline"],
    ['"abc', "unterminated"],
    ['"a"b"', "unescaped quote"],
    ["`a`b`", "backtick inside a raw string"],
    ['"\\ud800"', "surrogate code point"],
    ['"\\xff"', "invalid UTF-8"],
    ['"\\400"', "octal above 255"],
    ["abc", "no quotes"],
  ])("rejects %s (%s)", (literal) => {
    expect(parseLogqlString(literal)).toBeUndefined();
  });
});

describe("escapeRegex", () => {
  it("escapes the RE2 metacharacters like Go's regexp.QuoteMeta", () => {
    expect(escapeRegex("a.b*c+d?e(f)g|h[i]j{k}l^m$n\\o")).toBe(
      "a\\.b\\*c\\+d\\?e\\(f\\)g\\|h\\[i\\]j\\{k\\}l\\^m\\$n\\\\o",
    );
  });

  it.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v).slice(0, 40), v]))(
    "matches exactly itself: %s",
    (_name, value) => {
      const re = new RegExp(`^${escapeRegex(value)}$`, "su");
      expect(re.test(value)).toBe(true);
      expect(re.test(`${value}x`)).toBe(false);
    },
  );
});

describe("buildSelector", () => {
  it("lists only the stream labels, env when configured", () => {
    expect(buildSelector(selector)).toBe(
      '{service_name="ollama-proxy", log_type="request", env="dev"}',
    );
    expect(
      buildSelector({ service_name: "ollama-proxy", log_type: "request" }),
    ).toBe('{service_name="ollama-proxy", log_type="request"}');
    expect(buildSelector({ ...selector, env: "" })).toBe(
      '{service_name="ollama-proxy", log_type="request"}',
    );
  });
});

describe("buildSearchQuery", () => {
  it("is the bare selector without filters", () => {
    expect(buildSearchQuery(selector, {})).toBe(
      '{service_name="ollama-proxy", log_type="request", env="dev"}',
    );
  });

  it("puts line filters before the json parser and exact label filters after it", () => {
    expect(
      buildSearchQuery(selector, {
        model: "llama3.2:latest",
        promptSearch: "Kubernetes",
        status: { kind: "code", code: 200 },
      }),
    ).toBe(
      '{service_name="ollama-proxy", log_type="request", env="dev"}' +
        ' |= `"model":"llama3.2:latest"` |= `"status":200` |~ "(?i)Kubernetes"' +
        ' | json model, status, prompt | model="llama3.2:latest" | status=200 | prompt=~"(?is).*Kubernetes.*"',
    );
  });

  it("filters a status class with a range", () => {
    expect(
      buildSearchQuery(selector, { status: { kind: "class", hundreds: 5 } }),
    ).toBe(
      '{service_name="ollama-proxy", log_type="request", env="dev"}' +
        ' |~ `"status":5[0-9]{2}[,}]` | json status | status>=500, status<600',
    );
  });

  it("filters client, endpoint, outcome and request_id exactly", () => {
    const query = buildSearchQuery(selector, {
      client: "alice",
      endpoint: "/v1/chat/completions",
      outcome: "upstream_error",
      requestId: "req-1",
    });
    expect(query).toContain('|= `"client":"alice"`');
    expect(query).toContain('|= `"endpoint":"/v1/chat/completions"`');
    expect(query).toContain('|= `"outcome":"upstream_error"`');
    expect(query).toContain('|= `"request_id":"req-1"`');
    expect(query).toContain(
      '| json request_id, client, endpoint, outcome | request_id="req-1" | client="alice" | endpoint="/v1/chat/completions" | outcome="upstream_error"',
    );
  });

  describe.each(HOSTILE_VALUES.map((v) => [JSON.stringify(v).slice(0, 40), v]))(
    "prompt_search %s",
    (_n, needle) => {
      const query = buildSearchQuery(selector, { promptSearch: needle });
      const literals = [
        ...query.matchAll(
          /\|~ ("(?:[^"\\]|\\.)*"|`[^`]*`)|=~\s*("(?:[^"\\]|\\.)*"|`[^`]*`)/g,
        ),
      ];
      const lineRegex = parseLogqlString(literals[0]?.[1] ?? "");
      const labelRegex = parseLogqlString(literals[1]?.[2] ?? "");

      it("line filter regex finds the needle in the JSON-encoded line, case-insensitively", () => {
        expect(lineRegex).toMatch(/^\(\?i\)/);
        const re = new RegExp((lineRegex ?? "").slice(4), "iu");
        const line = JSON.stringify({
          prompt: `before ${needle.toUpperCase()} after`,
          model: "m",
        });
        expect(re.test(line)).toBe(true);
        expect(re.test("plain words only")).toBe(false);
      });

      it("label filter regex matches the decoded prompt across newlines", () => {
        expect(labelRegex).toMatch(/^\(\?is\)/);
        const re = new RegExp(`^(?:${(labelRegex ?? "").slice(5)})$`, "isu");
        expect(
          re.test(`system: be brief\nuser: ${needle.toLowerCase()}\nmore`),
        ).toBe(true);
        expect(re.test("plain words only")).toBe(false);
      });
    },
  );
});

describe("formatLogqlDuration", () => {
  it.each([
    [3_600_000, "1h"],
    [86_400_000, "1d"],
    [5_400_000, "90m"],
    [90_000, "90s"],
    [3_600_500, "3600500ms"],
    [0, "1ms"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatLogqlDuration(ms)).toBe(text);
  });
});

describe("buildStatsQueries", () => {
  const queries = buildStatsQueries(selector, { rangeMs: 3_600_000 });

  it("has one query per statistic, each over the whole window", () => {
    expect(Object.keys(queries)).toEqual([...STAT_QUERY_KEYS]);
    for (const query of Object.values(queries)) expect(query).toContain("[1h]");
  });

  it("counts requests and errors by model", () => {
    expect(queries.requests).toBe(
      'sum by (model) (count_over_time({service_name="ollama-proxy", log_type="request", env="dev"} | json model | __error__="" [1h]))',
    );
    expect(queries.errors).toContain(
      '| json model, outcome | __error__="" | outcome!~"ok|client_aborted" [1h]',
    );
  });

  it("sums tokens with unwrap inside an outer sum by (model)", () => {
    expect(queries.prompt_tokens).toBe(
      'sum by (model) (sum_over_time({service_name="ollama-proxy", log_type="request", env="dev"} | json model, prompt_tokens | __error__="" | unwrap prompt_tokens | __error__="" [1h]))',
    );
  });

  it("takes latency and TTFT quantiles by model", () => {
    expect(queries.latency_p99).toMatch(
      /^quantile_over_time\(0\.99, .* \| unwrap duration_ms \| __error__="" \[1h\]\) by \(model\)$/,
    );
    expect(queries.ttft_p95).toMatch(
      /^quantile_over_time\(0\.95, .* \| unwrap ttft_ms \| __error__="" \[1h\]\) by \(model\)$/,
    );
  });

  it("filters one model on the line and on the label", () => {
    const one = buildStatsQueries(selector, {
      rangeMs: 60_000,
      model: 'we"ird',
    });
    expect(one.requests).toContain(
      '|= `"model":"we\\"ird"` | json model | __error__="" | model=`we"ird` [1m]',
    );
  });
});
