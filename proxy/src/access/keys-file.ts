// The keys file (API_KEYS_FILE, YAML or JSON): reading and validating it, and the edits the `keys` CLI makes.
// Pure: text in, data or text out. Problems name the entry and field but never echo a hash (the file's secrets
// are hashes, and they stay out of logs too).
//
//   keys:
//     - name: open-webui                 # becomes `client` in records and the metric label
//       role: user                       # user | admin (admin may pull, push, create, copy, delete)
//       hash: sha256:<64 hex>            # written by `npm run keys -- add open-webui`
//       models: ["llama3.*", "qwen2.5:*"]   # optional globs; default every model
//       limits: { requests_per_minute: 60, tokens_per_day: 200000, concurrent: 4 }   # optional; 0 = unlimited
import { isObject } from "../upstream/json-fields.ts";
import { isMap, isSeq, parse as parseYaml, parseDocument } from "yaml";
import type { ClientLimits } from "./limits.ts";
import { parseKeyHash, type KeyEntry, type Role } from "./keys.ts";
import { isValidModelGlob } from "../models/model-names.ts";

/** Safe as a metric label, a record field and a log value; `_other` and friends are reserved by the leading `_`. */
export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export type KeysFileResult =
  | { readonly ok: true; readonly keys: readonly KeyEntry[] }
  | { readonly ok: false; readonly problems: readonly string[] };

const LIMIT_FIELDS = {
  requests_per_minute: "requestsPerMinute",
  tokens_per_day: "tokensPerDay",
  concurrent: "concurrent",
} as const satisfies Record<string, keyof ClientLimits>;

const ENTRY_FIELDS = new Set([
  "name",
  "role",
  "hash",
  "models",
  "limits",
  "web",
]);

/** Names a misspelt field so it can be found, unless it could be a pasted secret or hash. */
const fieldName = (field: string) =>
  /^[A-Za-z_]{1,32}$/.test(field) ? JSON.stringify(field) : "(not shown)";

/** A YAML syntax error as position and code only: the message quotes the line, which may hold a hash. */
function syntaxProblem(error: unknown): string {
  if (error instanceof Error && "linePos" in error) {
    const positions = error.linePos as
      Array<{ line: number; col: number }> | undefined;
    const code = "code" in error ? String(error.code) : "syntax error";
    const at = positions?.[0];
    return at
      ? `not valid YAML or JSON: ${code} at line ${at.line}, column ${at.col}`
      : `not valid YAML or JSON: ${code}`;
  }
  return "not valid YAML or JSON";
}

function readEntry(
  raw: unknown,
  index: number,
  problems: string[],
): KeyEntry | undefined {
  if (!isObject(raw)) {
    problems.push(`keys[${index}]: expected a mapping with name, role, hash`);
    return undefined;
  }
  const name = raw.name;
  const where =
    typeof name === "string" && KEY_NAME.test(name)
      ? `keys[${index}] (${name})`
      : `keys[${index}]`;
  const before = problems.length;
  for (const field of Object.keys(raw))
    if (!ENTRY_FIELDS.has(field))
      problems.push(
        `${where}: unknown field ${fieldName(field)} (expected name, role, hash, models, limits, web)`,
      );
  if (typeof name !== "string" || !KEY_NAME.test(name))
    problems.push(
      `${where}.name: expected 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit`,
    );
  const role = raw.role ?? "user";
  if (role !== "user" && role !== "admin")
    problems.push(`${where}.role: expected user or admin`);
  const digest =
    typeof raw.hash === "string" ? parseKeyHash(raw.hash.trim()) : undefined;
  if (!digest)
    problems.push(
      `${where}.hash: expected "sha256:<64 hex digits>" (create one with: npm run keys -- add NAME)`,
    );
  if (raw.web !== undefined && typeof raw.web !== "boolean")
    problems.push(
      `${where}.web: expected true or false (may use Ollama's web search and fetch, which spend the account's quota)`,
    );
  let models: string[] | undefined;
  if (raw.models !== undefined) {
    if (
      !Array.isArray(raw.models) ||
      !raw.models.every(
        (model): model is string =>
          typeof model === "string" && isValidModelGlob(model),
      )
    )
      problems.push(
        `${where}.models: expected a list of model names or globs (* and ?), e.g. ["llama3.*", "qwen2.5:7b"]`,
      );
    else models = [...raw.models];
  }
  const limits: Partial<Record<keyof ClientLimits, number>> = {};
  if (raw.limits !== undefined) {
    if (!isObject(raw.limits)) {
      problems.push(
        `${where}.limits: expected a mapping of requests_per_minute, tokens_per_day, concurrent`,
      );
    } else {
      for (const [field, value] of Object.entries(raw.limits)) {
        const target = LIMIT_FIELDS[field as keyof typeof LIMIT_FIELDS];
        if (target === undefined) {
          problems.push(
            `${where}.limits: unknown field ${fieldName(field)} (expected requests_per_minute, tokens_per_day, concurrent)`,
          );
        } else if (
          typeof value !== "number" ||
          !Number.isSafeInteger(value) ||
          value < 0
        ) {
          problems.push(
            `${where}.limits.${field}: expected a non-negative integer (0 = unlimited)`,
          );
        } else {
          limits[target] = value;
        }
      }
    }
  }
  if (problems.length > before || !digest || typeof name !== "string")
    return undefined;
  return Object.freeze({
    name,
    role: role as Role,
    digest,
    models: models ? Object.freeze(models) : undefined,
    limits: Object.freeze(limits),
    web: raw.web === true,
  });
}

/** Validates a keys file; every problem is reported, one line each. */
export function parseKeysFile(text: string): KeysFileResult {
  let document: unknown;
  try {
    document = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    return { ok: false, problems: [syntaxProblem(error)] };
  }
  if (document === null || document === undefined)
    return { ok: true, keys: [] };
  if (
    !isObject(document) ||
    (document.keys !== undefined &&
      document.keys !== null &&
      !Array.isArray(document.keys))
  )
    return {
      ok: false,
      problems: ['expected a mapping with a "keys:" list'],
    };
  const problems: string[] = [];
  for (const field of Object.keys(document))
    if (field !== "keys")
      problems.push(
        `unknown top-level field ${fieldName(field)} (expected keys)`,
      );
  const list: unknown[] = Array.isArray(document.keys) ? document.keys : [];
  const keys: KeyEntry[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  list.forEach((raw, index) => {
    const entry = readEntry(raw, index, problems);
    if (!entry) return;
    if (names.has(entry.name)) {
      problems.push(
        `keys[${index}] (${entry.name}).name: used by an earlier key`,
      );
      return;
    }
    const digest = entry.digest.toString("hex");
    if (digests.has(digest)) {
      problems.push(
        `keys[${index}] (${entry.name}).hash: the same secret as an earlier key`,
      );
      return;
    }
    names.add(entry.name);
    digests.add(digest);
    keys.push(entry);
  });
  return problems.length > 0
    ? { ok: false, problems }
    : { ok: true, keys: Object.freeze(keys) };
}

/** A key as the CLI writes it (wire names of the file). */
export interface NewKey {
  readonly name: string;
  readonly role: Role;
  readonly hash: string;
  readonly models?: readonly string[];
  readonly limits?: Partial<
    Record<"requests_per_minute" | "tokens_per_day" | "concurrent", number>
  >;
  readonly web?: boolean;
}

export type KeysFormat = "yaml" | "json";

export function formatOf(path: string): KeysFormat {
  return path.toLowerCase().endsWith(".json") ? "json" : "yaml";
}

// yaml writes each comment line after a bare "#": the leading spaces are ours.
const NEW_FILE_HEADER = ` API keys for the Ollama proxy (API_KEYS_FILE). Only SHA-256 hashes are stored here.
 Manage with: npm run keys -- add NAME | list | remove NAME`;

export type EditResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly problem: string };

function plainKey(key: NewKey): Record<string, unknown> {
  return {
    name: key.name,
    role: key.role,
    hash: key.hash,
    ...(key.models ? { models: [...key.models] } : {}),
    ...(key.limits && Object.keys(key.limits).length > 0
      ? { limits: { ...key.limits } }
      : {}),
    ...(key.web ? { web: true } : {}),
  };
}

/** The file's text with `key` appended; comments and layout of a YAML file are kept. */
export function addKeyToText(
  text: string | undefined,
  key: NewKey,
  format: KeysFormat,
): EditResult {
  const current = parseKeysFile(text ?? "");
  if (!current.ok)
    return {
      ok: false,
      problem: `the keys file is invalid, fix it first:\n${current.problems.join("\n")}`,
    };
  if (current.keys.some((entry) => entry.name === key.name))
    return { ok: false, problem: `a key named ${key.name} already exists` };
  let next: string;
  if (format === "json") {
    const parsed: unknown = parseYaml(text ?? "");
    const document = isObject(parsed) ? parsed : {};
    const keys: unknown[] = Array.isArray(document.keys) ? document.keys : [];
    next = `${JSON.stringify({ ...document, keys: [...keys, plainKey(key)] }, null, 2)}\n`;
  } else {
    const document = parseDocument(text?.trim() ? text : "keys:\n");
    if (!text?.trim()) document.commentBefore = NEW_FILE_HEADER;
    const list = document.get("keys");
    if (isSeq(list)) {
      list.flow = false;
      list.add(document.createNode(plainKey(key)));
    } else {
      document.set("keys", document.createNode([plainKey(key)]));
    }
    next = document.toString();
  }
  const check = parseKeysFile(next);
  if (!check.ok) return { ok: false, problem: check.problems.join("\n") };
  return { ok: true, text: next };
}

/** The file's text without the key named `name`. */
export function removeKeyFromText(
  text: string,
  name: string,
  format: KeysFormat,
): EditResult {
  const current = parseKeysFile(text);
  if (!current.ok)
    return {
      ok: false,
      problem: `the keys file is invalid, fix it first:\n${current.problems.join("\n")}`,
    };
  const index = current.keys.findIndex((entry) => entry.name === name);
  if (index === -1) return { ok: false, problem: `no key named ${name}` };
  if (format === "json") {
    const document = parseYaml(text) as Record<string, unknown>;
    const keys = Array.isArray(document.keys) ? document.keys : [];
    const next = {
      ...document,
      keys: keys.filter((entry) => !(isObject(entry) && entry.name === name)),
    };
    return { ok: true, text: `${JSON.stringify(next, null, 2)}\n` };
  }
  const document = parseDocument(text);
  const list = document.get("keys");
  if (!isSeq(list)) return { ok: false, problem: `no key named ${name}` };
  const position = list.items.findIndex(
    (item) => isMap(item) && item.get("name") === name,
  );
  if (position === -1) return { ok: false, problem: `no key named ${name}` };
  list.delete(position);
  return { ok: true, text: document.toString() };
}
