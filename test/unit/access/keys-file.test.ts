import { describe, expect, it } from "vitest";
import {
  addKeyToText,
  formatOf,
  parseKeysFile,
  removeKeyFromText,
} from "@proxy/access/keys-file.ts";
import { hashKey } from "@proxy/access/keys.ts";

const HASH_A = hashKey("secret-a");
const HASH_B = hashKey("secret-b");

function problemsOf(text: string): string[] {
  const parsed = parseKeysFile(text);
  return parsed.ok ? [] : [...parsed.problems];
}

describe("parseKeysFile", () => {
  it("reads a YAML file with every field", () => {
    const parsed = parseKeysFile(`
keys:
  - name: open-webui
    role: user
    hash: ${HASH_A}
    models: ["llama3.*", "qwen2.5:7b"]
    limits: { requests_per_minute: 60, tokens_per_day: 200000, concurrent: 4 }
  - name: ops
    role: admin
    hash: ${HASH_B}
`);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.keys.map((key) => [key.name, key.role])).toEqual([
      ["open-webui", "user"],
      ["ops", "admin"],
    ]);
    expect(parsed.keys[0]!.models).toEqual(["llama3.*", "qwen2.5:7b"]);
    expect(parsed.keys[0]!.limits).toEqual({
      requestsPerMinute: 60,
      tokensPerDay: 200000,
      concurrent: 4,
    });
    expect(parsed.keys[1]!.models).toBeUndefined();
    expect(parsed.keys[1]!.limits).toEqual({});
    expect(parsed.keys[0]!.digest.toString("hex")).toBe(HASH_A.slice(7));
  });

  it("reads JSON, defaults the role to user, and accepts an empty file", () => {
    const parsed = parseKeysFile(
      JSON.stringify({ keys: [{ name: "a", hash: HASH_A }] }),
    );
    expect(parsed.ok && parsed.keys[0]!.role).toBe("user");
    expect(parseKeysFile("")).toEqual({ ok: true, keys: [] });
    expect(parseKeysFile("keys: []")).toEqual({ ok: true, keys: [] });
  });

  it.each([
    ["- a", "expected a mapping"],
    ["keys: {}", "expected a mapping"],
    [`keys: [{ name: a, hash: ${HASH_A} }]\nextra: 1`, "unknown top-level"],
    ["keys: [5]", "keys[0]: expected a mapping"],
    [`keys: [{ name: "a b", hash: ${HASH_A} }]`, "keys[0].name: expected"],
    [`keys: [{ name: _other, hash: ${HASH_A} }]`, "keys[0].name"],
    [`keys: [{ hash: ${HASH_A} }]`, "keys[0].name"],
    [`keys: [{ name: a, role: root, hash: ${HASH_A} }]`, "keys[0] (a).role"],
    ["keys: [{ name: a, hash: abc }]", "keys[0] (a).hash"],
    ["keys: [{ name: a }]", "keys[0] (a).hash"],
    [`keys: [{ name: a, hash: ${HASH_A}, models: llama3 }]`, ".models"],
    [`keys: [{ name: a, hash: ${HASH_A}, models: ["a b"] }]`, ".models"],
    [
      `keys: [{ name: a, hash: ${HASH_A}, limits: { requests_per_minute: -1 } }]`,
      "limits.requests_per_minute",
    ],
    [
      `keys: [{ name: a, hash: ${HASH_A}, limits: { concurrent: 1.5 } }]`,
      "limits.concurrent",
    ],
    [
      `keys: [{ name: a, hash: ${HASH_A}, limits: { rpm: 5 } }]`,
      'unknown field "rpm"',
    ],
    [
      `keys: [{ name: a, hash: ${HASH_A}, limit: {} }]`,
      'unknown field "limit"',
    ],
    [
      `keys: [{ name: a, hash: ${HASH_A} }, { name: a, hash: ${HASH_B} }]`,
      "keys[1] (a).name: used by an earlier key",
    ],
    [
      `keys: [{ name: a, hash: ${HASH_A} }, { name: b, hash: ${HASH_A} }]`,
      "keys[1] (b).hash: the same secret",
    ],
    ["keys: [\n  { name: a", "not valid YAML or JSON"],
  ])("reports %j", (text, problem) => {
    expect(problemsOf(text).join("\n")).toContain(problem);
  });

  it("reports every problem, one line each", () => {
    expect(
      problemsOf(
        `keys: [{ name: "a b", hash: x }, { name: c, role: x, hash: ${HASH_A} }]`,
      ),
    ).toHaveLength(3);
  });

  it("never echoes a hash, even from a line with a syntax error", () => {
    const hex = HASH_A.slice(7);
    for (const text of [
      `keys: [{ name: a, hash: "${HASH_A}x" }]`,
      `keys: [{ name: a, hash: ${HASH_A}, hash: ${HASH_B} }]`,
      `keys:\n  - name: a\n    hash: "${HASH_A}\n`,
      `keys: [{ name: a, hash: ${HASH_A} }, { name: b, hash: ${HASH_A} }]`,
      `keys: [{ name: a, hash: ${HASH_A}, ${hex}: 1 }]`,
    ]) {
      const problems = problemsOf(text).join("\n");
      expect(problems).not.toBe("");
      expect(problems).not.toContain(hex.slice(0, 16));
    }
  });
});

describe("editing the keys file", () => {
  const alice = { name: "alice", role: "user" as const, hash: HASH_A };

  it("creates a YAML file with a header and keeps comments on later edits", () => {
    const created = addKeyToText(undefined, alice, "yaml");
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.text).toMatch(/^# API keys for the Ollama proxy/);
    const commented = created.text.replace(
      "- name: alice",
      "- name: alice # the web UI",
    );
    const added = addKeyToText(
      commented,
      {
        name: "ops",
        role: "admin",
        hash: HASH_B,
        models: ["*"],
        limits: { concurrent: 2 },
      },
      "yaml",
    );
    expect(added.ok).toBe(true);
    if (!added.ok) return;
    expect(added.text).toContain("# the web UI");
    const parsed = parseKeysFile(added.text);
    expect(parsed.ok && parsed.keys.map((key) => key.name)).toEqual([
      "alice",
      "ops",
    ]);
    expect(parsed.ok && parsed.keys[1]!.limits).toEqual({ concurrent: 2 });

    const removed = removeKeyFromText(added.text, "alice", "yaml");
    expect(removed.ok).toBe(true);
    if (!removed.ok) return;
    const after = parseKeysFile(removed.text);
    expect(after.ok && after.keys.map((key) => key.name)).toEqual(["ops"]);
  });

  it("appends to a flow-style empty list in block style", () => {
    const added = addKeyToText("keys: []\n", alice, "yaml");
    expect(added.ok && added.text).toContain("\n  - name: alice\n");
  });

  it("writes JSON for .json files", () => {
    expect(formatOf("/etc/proxy/keys.JSON")).toBe("json");
    expect(formatOf("keys.yml")).toBe("yaml");
    const added = addKeyToText("", alice, "json");
    expect(added.ok).toBe(true);
    if (!added.ok) return;
    expect(JSON.parse(added.text)).toEqual({
      keys: [{ name: "alice", role: "user", hash: HASH_A }],
    });
    const removed = removeKeyFromText(added.text, "alice", "json");
    expect(removed.ok && JSON.parse(removed.text)).toEqual({ keys: [] });
  });

  it("refuses duplicates, unknown names and invalid files", () => {
    const created = addKeyToText(undefined, alice, "yaml");
    if (!created.ok) throw new Error(created.problem);
    expect(addKeyToText(created.text, alice, "yaml")).toMatchObject({
      ok: false,
      problem: expect.stringContaining("already exists") as unknown,
    });
    expect(removeKeyFromText(created.text, "bob", "yaml")).toMatchObject({
      ok: false,
      problem: "no key named bob",
    });
    expect(addKeyToText("keys: 5", alice, "yaml").ok).toBe(false);
  });
});
