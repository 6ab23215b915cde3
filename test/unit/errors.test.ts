import { describe, expect, it } from "vitest";
import { streamErrorTail } from "@proxy/errors.ts";

const text = (tail: Buffer | undefined) => tail?.toString("utf8");

describe("the end of a stream Ollama cut", () => {
  it("is an error line on NDJSON, after the cut line is closed", () => {
    expect(
      text(streamErrorTail("ollama", "application/x-ndjson", "gone", true)),
    ).toBe('{"error":"gone"}\n');
    expect(
      text(streamErrorTail("ollama", "application/x-ndjson", "gone", false)),
    ).toBe('\n{"error":"gone"}\n');
  });

  it("is OpenAI's error event on /v1 SSE and Anthropic's on /v1/messages", () => {
    const openai = text(
      streamErrorTail("openai", "text/event-stream", "gone", false),
    );
    expect(openai).toMatch(/^\n\ndata: \{"error":\{"message":"gone"/);
    expect(openai?.endsWith("\n\n")).toBe(true);
    expect(
      text(streamErrorTail("anthropic", "text/event-stream", "gone", true)),
    ).toBe(
      '\nevent: error\ndata: {"type":"error","error":{"type":"api_error","message":"gone"}}\n\n',
    );
  });

  it("is nothing for a body with a length: the client's connection is cut instead", () => {
    expect(
      streamErrorTail("ollama", "application/json; charset=utf-8", "x", true),
    ).toBeUndefined();
    expect(streamErrorTail("ollama", undefined, "x", true)).toBeUndefined();
  });
});
