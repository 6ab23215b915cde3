import { describe, expect, it } from "vitest";
import { decodeRequestJson } from "../../fixtures/ollama-emulator/json-decode.ts";
import type { Schema } from "../../fixtures/ollama-emulator/json-decode.ts";

const SCHEMA: Schema = {
  model: "string",
  stream: "bool",
  top_k: "int",
  stop: "stringArray",
  messages: {
    kind: "structArray",
    struct: "Message",
    fields: { role: "string", content: "string" },
  },
  keep_alive: {
    kind: "custom",
    check: (v) => (v === "bad" ? "custom failure" : undefined),
  },
};

const decode = (body: string) => decodeRequestJson(body, "ChatRequest", SCHEMA);

describe("decodeRequestJson", () => {
  it("marks an empty or blank body as EOF", () => {
    expect(decode("")).toEqual({ ok: false, eof: true, error: "EOF" });
    expect(decode(" \n")).toEqual({ ok: false, eof: true, error: "EOF" });
  });

  it.each([
    ['{"model":', "unexpected EOF"],
    ['{"model":"x"', "unexpected EOF"],
    ["x", "invalid character 'x' looking for beginning of value"],
    ['{"a" 1}', "invalid character '1' after object key"],
    ['{"a":1 "b":2}', "invalid character '\"' after object key:value pair"],
    ["[1 2]", "invalid character '2' after array element"],
    ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')"],
    ['{"a":"\\q"}', "invalid character 'q' in string escape code"],
    ['{"a":-x}', "invalid character 'x' in numeric literal"],
    [
      '{"a":1.}',
      "invalid character '}' after decimal point in numeric literal",
    ],
    ['{"a":"\n"}', "invalid character '\\n' in string literal"],
  ])("reports the syntax error of %j like encoding/json", (body, error) => {
    expect(decode(body)).toEqual({ ok: false, eof: false, error });
  });

  it.each([
    [
      '{"model":1}',
      "json: cannot unmarshal number into Go struct field ChatRequest.model of type string",
    ],
    [
      '{"stream":"yes"}',
      "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool",
    ],
    [
      '{"top_k":1.5}',
      "json: cannot unmarshal number 1.5 into Go struct field ChatRequest.top_k of type int",
    ],
    [
      '{"stop":[1]}',
      "json: cannot unmarshal number into Go struct field ChatRequest.stop of type string",
    ],
    [
      '{"messages":[{"content":1}]}',
      "json: cannot unmarshal number into Go struct field Message.messages.content of type string",
    ],
    [
      "[]",
      "json: cannot unmarshal array into Go value of type api.ChatRequest",
    ],
  ])("reports the type error of %s", (body, error) => {
    expect(decode(body)).toEqual({ ok: false, eof: false, error });
  });

  it("reports an UnmarshalJSON failure before an earlier type mismatch", () => {
    expect(decode('{"model":1,"keep_alive":"bad"}')).toEqual({
      ok: false,
      eof: false,
      error: "custom failure",
    });
  });

  it("ignores unknown fields and trailing bytes, folds key case and treats null as absent", () => {
    expect(
      decode('{"MODEL":"m","Stream":null,"extra":{"x":[1]}} trailing'),
    ).toEqual({
      ok: true,
      value: { model: "m", stream: undefined, extra: { x: [1] } },
    });
    expect(decode("null")).toEqual({ ok: true, value: {} });
  });
});
