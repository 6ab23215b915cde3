// Conversation affinity across backends, shown where a user sees it: the prompt tokens Ollama evaluates for the
// later turns of a chat. Two emulated backends with the same model loaded and Ollama's prompt cache emulated;
// one proxy with affinity (the default), one without (BACKEND_AFFINITY=off).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createEmulator,
  type Emulator,
  type ModelSpec,
} from "../../fixtures/ollama-emulator/emulator.ts";
import { startProxy, type ProxyProcess } from "../../helpers/proxy-process.ts";

const MODEL: ModelSpec = {
  name: "llama3.2:latest",
  ttftMs: 0,
  loadMs: 0,
  tokensPerSecond: 0,
  replyTokens: 6,
};
const SYSTEM =
  "You are a careful assistant who answers questions about llamas, their pastures and the villages nearby.";

interface Turn {
  backend: string;
  promptTokens: number;
  promptEvalMs: number;
}

/** Three conversations of three turns each, one turn after the other; the records of every turn. */
async function converse(proxy: ProxyProcess, tag: string): Promise<Turn[][]> {
  const conversations: Turn[][] = [];
  for (let c = 0; c < 3; c++) {
    const messages: Array<{ role: string; content: string }> = [
      { role: "system", content: SYSTEM },
    ];
    const turns: Turn[] = [];
    for (let t = 0; t < 3; t++) {
      messages.push({
        role: "user",
        content: `${tag} conversation ${c} question ${t}: where do the llamas graze today?`,
      });
      const response = await fetch(`${proxy.url}/api/chat`, {
        method: "POST",
        body: JSON.stringify({ model: "llama3.2", messages, stream: false }),
      });
      const reply = (await response.json()) as {
        message: { content: string };
      };
      messages.push({ role: "assistant", content: reply.message.content });
      const record = await proxy.recordFor(
        response.headers.get("x-request-id") ?? "",
      );
      turns.push({
        backend: String(record.backend),
        promptTokens: Number(record.prompt_tokens),
        promptEvalMs: Number(record.prompt_eval_ms),
      });
    }
    conversations.push(turns);
  }
  return conversations;
}

const later = (conversations: Turn[][]) =>
  conversations.flatMap((turns) => turns.slice(1));
const sum = (turns: Turn[], field: "promptTokens" | "promptEvalMs") =>
  turns.reduce((total, turn) => total + turn[field], 0);

describe("conversation affinity", () => {
  let a: Emulator;
  let b: Emulator;
  let sticky: ProxyProcess;
  let spread: ProxyProcess;

  beforeAll(async () => {
    a = await createEmulator({ models: [MODEL], promptCache: true });
    b = await createEmulator({ models: [MODEL], promptCache: true });
    const backends = `a=${a.url},b=${b.url}`;
    sticky = await startProxy({ OLLAMA_BACKENDS: backends });
    spread = await startProxy({
      OLLAMA_BACKENDS: backends,
      BACKEND_AFFINITY: "off",
    });
    // The model answers on both backends for both proxies: equally suited, so only affinity decides.
    for (const proxy of [sticky, spread])
      for (const backend of ["a", "b"])
        await fetch(`${proxy.url}/api/generate`, {
          method: "POST",
          headers: { "X-Ollama-Backend": backend },
          body: JSON.stringify({
            model: "llama3.2",
            prompt: "hi",
            stream: false,
          }),
        }).then((r) => r.text());
  });

  afterAll(async () => {
    await sticky?.stop("SIGKILL");
    await spread?.stop("SIGKILL");
    await Promise.all([a?.close(), b?.close()]);
  });

  it("keeps a conversation on one backend, so later turns evaluate only their new tokens", async () => {
    const withAffinity = await converse(sticky, "sticky");
    const without = await converse(spread, "spread");
    for (const turns of withAffinity)
      expect(new Set(turns.map((t) => t.backend)).size).toBe(1);
    // Without affinity, ties alternate: some later turn lands where the conversation's prompt is not cached.
    expect(
      without.some((turns) => new Set(turns.map((t) => t.backend)).size > 1),
    ).toBe(true);
    const tokensWith = sum(later(withAffinity), "promptTokens");
    const tokensWithout = sum(later(without), "promptTokens");
    expect(tokensWith).toBeLessThan(tokensWithout);
    expect(sum(later(withAffinity), "promptEvalMs")).toBeLessThan(
      sum(later(without), "promptEvalMs"),
    );
    console.log(
      `later turns: ${tokensWith} prompt tokens evaluated with affinity, ${tokensWithout} without`,
    );
  });
});
