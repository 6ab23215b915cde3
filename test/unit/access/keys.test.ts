import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  KEY_PREFIX,
  createKeyRing,
  digestOf,
  extractKey,
  generateKey,
  hashKey,
  parseKeyHash,
  stripKeyHeaders,
  type KeyEntry,
} from "@proxy/access/keys.ts";

const entry = (name: string, secret: string, models?: string[]): KeyEntry => ({
  name,
  role: "user",
  digest: digestOf(secret),
  models,
  limits: {},
});

describe("key secrets and hashes", () => {
  it("generates distinct, prefixed, URL-safe secrets with 256 bits of randomness", () => {
    const keys = new Set(Array.from({ length: 200 }, generateKey));
    expect(keys.size).toBe(200);
    for (const key of keys) expect(key).toMatch(/^olp_[A-Za-z0-9_-]{43}$/);
    expect(KEY_PREFIX).toBe("olp_");
  });

  it("stores the SHA-256 of the secret as sha256:<hex>", () => {
    const secret = "olp_example";
    const hex = createHash("sha256").update(secret).digest("hex");
    expect(hashKey(secret)).toBe(`sha256:${hex}`);
    expect(parseKeyHash(hashKey(secret))).toEqual(Buffer.from(hex, "hex"));
  });

  it.each([
    ["sha256:abc"],
    ["sha1:" + "a".repeat(64)],
    ["a".repeat(64)],
    ["sha256:" + "g".repeat(64)],
    ["sha256:" + "a".repeat(65)],
  ])("rejects %s as a hash", (text) => {
    expect(parseKeyHash(text)).toBeUndefined();
  });

  it("accepts upper-case hex", () => {
    expect(parseKeyHash("sha256:" + "AB".repeat(32))).toEqual(
      Buffer.alloc(32, 0xab),
    );
  });
});

describe("extractKey", () => {
  it.each([
    [{ authorization: "Bearer olp_x" }, "olp_x"],
    [{ authorization: "bearer   olp_x " }, "olp_x"],
    [{ "x-api-key": "olp_y" }, "olp_y"],
    [{ "x-api-key": "olp_y", authorization: "Bearer ollama" }, "olp_y"],
    [{}, undefined],
    [{ authorization: "Basic dXNlcjpwYXNz" }, ""],
    [{ authorization: "Bearer a b" }, ""],
    [{ authorization: "Bearer " + "x".repeat(600) }, ""],
  ])("%j → %s", (headers, expected) => {
    expect(extractKey(headers)).toBe(expected);
  });

  it("removes both key headers and nothing else", () => {
    const headers = {
      authorization: "Bearer k",
      "x-api-key": "k",
      "content-type": "application/json",
    };
    stripKeyHeaders(headers);
    expect(headers).toEqual({ "content-type": "application/json" });
  });
});

describe("key ring", () => {
  const ring = createKeyRing([
    entry("alice", "secret-a", ["llama3.*", "qwen2.5:7b"]),
    entry("bob", "secret-b"),
  ]);

  it("finds the key whose hash matches, and no key otherwise", () => {
    expect(ring.find("secret-a")?.name).toBe("alice");
    expect(ring.find("secret-b")?.name).toBe("bob");
    expect(ring.find("secret-c")).toBeUndefined();
    expect(ring.find("")).toBeUndefined();
    expect(ring.find("secret-a ")).toBeUndefined();
    expect(ring.size).toBe(2);
    expect(ring.has("alice")).toBe(true);
    expect(ring.has("carol")).toBe(false);
  });

  it("restricts a key to its model globs; a key without a list may use any model", () => {
    const alice = ring.find("secret-a")!;
    const bob = ring.find("secret-b")!;
    expect(ring.allows(alice, "llama3.1:8b")).toBe(true);
    expect(ring.allows(alice, "qwen2.5:7b")).toBe(true);
    expect(ring.allows(alice, "qwen2.5:14b")).toBe(false);
    expect(ring.allows(alice, "mistral:latest")).toBe(false);
    expect(ring.allows(bob, "anything:latest")).toBe(true);
  });
});
