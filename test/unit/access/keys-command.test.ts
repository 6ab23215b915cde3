import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseKeysFile } from "@proxy/access/keys-file.ts";
import { createKeyRing } from "@proxy/access/keys.ts";
import { runKeysCommand } from "../../../tools/keys/keys-command.ts";

describe("npm run keys", () => {
  let dir: string;
  let out: string;
  let err: string;
  const run = (args: string[], env: Record<string, string> = {}) => {
    out = "";
    err = "";
    return runKeysCommand(args, {
      env,
      stdout: (text) => {
        out += text;
      },
      stderr: (text) => {
        err += text;
      },
    });
  };
  const ringOf = async (file: string) => {
    const parsed = parseKeysFile(await readFile(file, "utf8"));
    if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
    return { ring: createKeyRing(parsed.keys), keys: parsed.keys };
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "keys-cli-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("adds a key: prints the secret once on stdout and stores only its hash", async () => {
    const file = join(dir, "keys.yaml");
    expect(
      await run([
        "add",
        "open-webui",
        "--file",
        file,
        "--models",
        "llama3.*, qwen2.5:7b",
        "--requests-per-minute",
        "60",
        "--tokens-per-day",
        "200000",
        "--concurrent",
        "4",
      ]),
    ).toBe(0);
    const secret = out.trim();
    expect(secret).toMatch(/^olp_[A-Za-z0-9_-]{43}$/);
    expect(err).toContain('added key "open-webui"');
    expect(err).not.toContain(secret);
    const text = await readFile(file, "utf8");
    expect(text).not.toContain(secret);
    const { ring, keys } = await ringOf(file);
    expect(ring.find(secret)?.name).toBe("open-webui");
    expect(keys[0]).toMatchObject({
      role: "user",
      models: ["llama3.*", "qwen2.5:7b"],
      limits: { requestsPerMinute: 60, tokensPerDay: 200000, concurrent: 4 },
    });
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });

  it("uses API_KEYS_FILE, lists without secrets or hashes, and removes", async () => {
    const file = join(dir, "keys.json");
    const env = { API_KEYS_FILE: file };
    expect(await run(["add", "ops", "--role", "admin"], env)).toBe(0);
    const opsSecret = out.trim();
    expect(await run(["add", "web"], env)).toBe(0);
    expect(await run(["add", "searcher", "--web"], env)).toBe(0);
    expect(JSON.parse(await readFile(file, "utf8"))).toMatchObject({
      keys: [
        { name: "ops", role: "admin" },
        { name: "web" },
        { name: "searcher", web: true },
      ],
    });
    expect((await ringOf(file)).keys.map((key) => key.web)).toEqual([
      false,
      false,
      true,
    ]);
    expect(await run(["remove", "searcher"], env)).toBe(0);
    expect(await run(["list"], env)).toBe(0);
    expect(out).toMatch(/^NAME\s+ROLE\s+MODELS\s+LIMITS\n/);
    expect(out).toContain("ops ");
    expect(out).not.toContain("sha256");
    expect(await run(["remove", "web"], env)).toBe(0);
    const { ring, keys } = await ringOf(file);
    expect(keys.map((key) => key.name)).toEqual(["ops"]);
    expect(ring.find(opsSecret)?.name).toBe("ops");
  });

  it("keeps the file's permissions and comments when it edits", async () => {
    const file = join(dir, "keys.yaml");
    await writeFile(file, "# managed by ops\nkeys: []\n", { mode: 0o600 });
    expect(await run(["add", "a", "--file", file])).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, "utf8")).toMatch(/^# managed by ops\n/);
  });

  it.each([
    [["add"], 2, "NAME is 1-64 characters"],
    [["add", "bad name"], 2, "NAME is 1-64 characters"],
    [["add", "a", "--role", "root"], 2, "--role"],
    [["add", "a", "--models", "a b"], 2, "--models"],
    [["add", "a", "--concurrent", "-1"], 2, "Option"],
    [["add", "a", "--concurrent", "x"], 1, "--concurrent"],
    [["frobnicate"], 2, "unknown command"],
    [[], 2, "usage"],
    [["remove"], 2, "which key"],
    [["list"], 1, "no such file"],
  ])("%j exits %d", async (args, code, message) => {
    expect(await run([...args, "--file", join(dir, "k.yaml")])).toBe(code);
    expect(err).toContain(message);
    expect(out).toBe("");
  });

  it("refuses a duplicate name and a removal of an unknown key", async () => {
    const file = join(dir, "keys.yaml");
    await run(["add", "a", "--file", file]);
    expect(await run(["add", "a", "--file", file])).toBe(1);
    expect(err).toContain("already exists");
    expect(out).toBe("");
    expect(await run(["remove", "b", "--file", file])).toBe(1);
    expect(err).toContain("no key named b");
  });

  it("prints the usage on --help", async () => {
    expect(await run(["--help"])).toBe(0);
    expect(out).toContain("usage: npm run keys");
  });
});
