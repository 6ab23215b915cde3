import { describe, expect, it } from "vitest";
import { createAffinity } from "@proxy/backends/affinity.ts";
import { conversationKey } from "@proxy/upstream/conversation.ts";
import { matchRoute } from "@proxy/upstream/routes.ts";

const chat = matchRoute("POST", "/api/chat");
const system = { role: "system", content: "be brief" };
const first = { role: "user", content: "what is a llama?" };

describe("conversation keys", () => {
  it("gives every turn of a chat the key of its leading messages", () => {
    const turn1 = conversationKey(
      chat,
      { messages: [system, first] },
      "llama3.2:latest",
      undefined,
    );
    const turn2 = conversationKey(
      chat,
      {
        messages: [
          system,
          first,
          { role: "assistant", content: "an animal" },
          { role: "user", content: "and an alpaca?" },
        ],
      },
      "llama3.2:latest",
      undefined,
    );
    expect(turn1).toBeDefined();
    expect(turn2).toBe(turn1);
  });

  it("tells conversations and models apart", () => {
    const key = (content: string, model = "llama3.2:latest") =>
      conversationKey(
        chat,
        { messages: [{ role: "user", content }] },
        model,
        undefined,
      );
    expect(key("a")).not.toBe(key("b"));
    expect(key("a")).not.toBe(key("a", "qwen3:0.6b"));
  });

  it("uses the client's conversation id when the affinity header carries one", () => {
    expect(
      conversationKey(chat, { messages: [first] }, "m:latest", "chat-42"),
    ).toBe(conversationKey(chat, { prompt: "x" }, "m:latest", "chat-42"));
  });

  it("has no key for requests without turns", () => {
    const generate = matchRoute("POST", "/api/generate");
    expect(
      conversationKey(generate, { prompt: "x" }, "m:latest", undefined),
    ).toBeUndefined();
    expect(
      conversationKey(
        chat,
        { messages: [{ role: "system", content: "x" }] },
        "m:latest",
        undefined,
      ),
    ).toBeUndefined();
    expect(
      conversationKey(matchRoute("GET", "/api/tags"), undefined, "", undefined),
    ).toBeUndefined();
  });
});

describe("the affinity table", () => {
  const now = Date.now();

  it("remembers a conversation's backend until its entry is older than the TTL", () => {
    const affinity = createAffinity(10, 1000);
    affinity.remember("k", "gpu1", now);
    expect(affinity.backendFor("k", now + 999)).toBe("gpu1");
    expect(affinity.backendFor("k", now + 1001)).toBeUndefined();
  });

  it("forgets the least recently used beyond its size", () => {
    const affinity = createAffinity(2, 60_000);
    affinity.remember("a", "gpu1", now);
    affinity.remember("b", "gpu2", now);
    affinity.remember("a", "gpu1", now + 1);
    affinity.remember("c", "gpu3", now + 2);
    expect(affinity.backendFor("b", now + 3)).toBeUndefined();
    expect(affinity.backendFor("a", now + 3)).toBe("gpu1");
    expect(affinity.size).toBe(2);
  });
});
