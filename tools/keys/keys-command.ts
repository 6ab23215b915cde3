// The `npm run keys` command: add a key (prints the secret once, stores only its SHA-256 hash), list keys
// (names, roles, models, limits; never hashes) and remove a key. The proxy picks the change up by itself (it
// watches API_KEYS_FILE) or on SIGHUP. Writes go through a temporary file and a rename, so the proxy never reads
// half a file.
import { chmod, readFile, rename, stat, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { generateKey, hashKey } from "../../proxy/src/access/keys.ts";
import {
  KEY_NAME,
  addKeyToText,
  formatOf,
  parseKeysFile,
  removeKeyFromText,
  type NewKey,
} from "../../proxy/src/access/keys-file.ts";
import { isValidModelGlob } from "../../proxy/src/models/model-names.ts";

export interface CommandIo {
  readonly env: Record<string, string | undefined>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export const USAGE = `usage: npm run keys -- <command> [options]

  add NAME [--role user|admin] [--models GLOB,GLOB] [--requests-per-minute N]
           [--tokens-per-day N] [--concurrent N] [--web]
        creates a key, prints its secret once on stdout, stores its SHA-256 hash
  list  shows names, roles, models and limits (never secrets or hashes)
  remove NAME
        deletes a key; clients using it get 401 once the proxy has reloaded

  --file PATH   the keys file (default: $API_KEYS_FILE, else ./keys.yaml)
`;

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Replaces the file atomically, keeping its permissions (a new file is 0644: it holds only hashes). */
async function writeAtomically(file: string, text: string): Promise<void> {
  let mode = 0o644;
  try {
    mode = (await stat(file)).mode & 0o777;
  } catch {
    // New file.
  }
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await chmod(temporary, mode);
  await rename(temporary, file);
}

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new Error(`${flag}: expected a non-negative integer (0 = unlimited)`);
  return Number(value);
}

/** Runs one command; returns the process exit code (0 ok, 1 refused, 2 usage). */
export async function runKeysCommand(
  argv: readonly string[],
  io: CommandIo,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        file: { type: "string" },
        role: { type: "string", default: "user" },
        models: { type: "string" },
        "requests-per-minute": { type: "string" },
        "tokens-per-day": { type: "string" },
        concurrent: { type: "string" },
        web: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.stderr(
      `${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, name, ...extra] = positionals;
  if (values.help || command === undefined || extra.length > 0) {
    (values.help ? io.stdout : io.stderr)(USAGE);
    return values.help ? 0 : 2;
  }
  const file = values.file ?? io.env.API_KEYS_FILE ?? "keys.yaml";
  const format = formatOf(file);

  try {
    switch (command) {
      case "add": {
        if (name === undefined || !KEY_NAME.test(name)) {
          io.stderr(
            "add NAME: NAME is 1-64 characters of [A-Za-z0-9._@-], starting with a letter or digit\n",
          );
          return 2;
        }
        if (values.role !== "user" && values.role !== "admin") {
          io.stderr("--role: expected user or admin\n");
          return 2;
        }
        const models = values.models
          ?.split(",")
          .map((model) => model.trim())
          .filter((model) => model !== "");
        if (models && !models.every(isValidModelGlob)) {
          io.stderr(
            "--models: expected model names or globs, comma-separated\n",
          );
          return 2;
        }
        const limits: NonNullable<NewKey["limits"]> = {};
        const rpm = count(
          values["requests-per-minute"],
          "--requests-per-minute",
        );
        const tpd = count(values["tokens-per-day"], "--tokens-per-day");
        const concurrent = count(values.concurrent, "--concurrent");
        if (rpm !== undefined) limits.requests_per_minute = rpm;
        if (tpd !== undefined) limits.tokens_per_day = tpd;
        if (concurrent !== undefined) limits.concurrent = concurrent;
        const secret = generateKey();
        const edit = addKeyToText(
          await readIfExists(file),
          {
            name,
            role: values.role,
            hash: hashKey(secret),
            ...(models && models.length > 0 ? { models } : {}),
            limits,
            web: values.web,
          },
          format,
        );
        if (!edit.ok) {
          io.stderr(`${file}: ${edit.problem}\n`);
          return 1;
        }
        await writeAtomically(file, edit.text);
        io.stderr(
          `added key "${name}" (${values.role}) to ${file}. The secret below is shown only once; give it to the client as Authorization: Bearer <secret> or X-API-Key: <secret>.\n`,
        );
        io.stdout(`${secret}\n`);
        return 0;
      }
      case "list": {
        const text = await readIfExists(file);
        if (text === undefined) {
          io.stderr(`${file}: no such file (add a key first)\n`);
          return 1;
        }
        const parsedFile = parseKeysFile(text);
        if (!parsedFile.ok) {
          io.stderr(`${file}: invalid:\n${parsedFile.problems.join("\n")}\n`);
          return 1;
        }
        const rows = parsedFile.keys.map((key) => [
          key.name,
          key.role,
          key.models?.join(",") ?? "*",
          [
            `rpm=${key.limits.requestsPerMinute ?? "default"}`,
            `tokens/day=${key.limits.tokensPerDay ?? "default"}`,
            `concurrent=${key.limits.concurrent ?? "default"}`,
          ].join(" "),
        ]);
        const header = ["NAME", "ROLE", "MODELS", "LIMITS"];
        const widths = header.map((title, column) =>
          Math.max(title.length, ...rows.map((row) => row[column]!.length)),
        );
        for (const row of [header, ...rows])
          io.stdout(
            `${row
              .map((cell, column) => cell.padEnd(widths[column]!))
              .join("  ")
              .trimEnd()}\n`,
          );
        return 0;
      }
      case "remove": {
        if (name === undefined) {
          io.stderr("remove NAME: which key?\n");
          return 2;
        }
        const text = await readIfExists(file);
        if (text === undefined) {
          io.stderr(`${file}: no such file\n`);
          return 1;
        }
        const edit = removeKeyFromText(text, name, format);
        if (!edit.ok) {
          io.stderr(`${file}: ${edit.problem}\n`);
          return 1;
        }
        await writeAtomically(file, edit.text);
        io.stderr(`removed key "${name}" from ${file}\n`);
        return 0;
      }
      default:
        io.stderr(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    io.stderr(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
