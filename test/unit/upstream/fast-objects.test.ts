// The objects the proxy builds for every exchange and streamed response stay ordinary fast objects in V8. An object literal
// with its own getter does not: V8 turns it into a dictionary object and keeps the accessor in the old generation,
// where it holds the young getter and everything its closure reaches (the tap's text) until the next full GC — 8 to
// 12 KB promoted per stream, measured in docs/performance.md. V8's own view, through --allow-natives-syntax.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const moduleUrl = (path: string) =>
  new URL(`../../../proxy/src/${path}`, import.meta.url).href;

// Runs in a child: natives syntax cannot be parsed in this file, and the flag must be given at start.
const script = `
import { createByteLineSplitter } from ${JSON.stringify(moduleUrl("upstream/ndjson.ts"))};
import { createSseSplitter } from ${JSON.stringify(moduleUrl("upstream/sse.ts"))};
import { createResponseTap } from ${JSON.stringify(moduleUrl("upstream/response-tap.ts"))};
import { matchRoute } from ${JSON.stringify(moduleUrl("upstream/routes.ts"))};
import { ExchangeAdmission } from ${JSON.stringify(moduleUrl("exchange/admission.ts"))};
const tapOptions = (contentType) => ({
  route: matchRoute("POST", "/api/chat"),
  contentType,
  maxPreviewChars: 100,
  maxJsonBytes: 1000,
  onFirstOutput: () => {},
});
const pairs = {
  lineSplitter: () => createByteLineSplitter(() => {}),
  sseSplitter: () => createSseSplitter(() => {}),
  ndjsonTap: () => createResponseTap(tapOptions("application/x-ndjson")),
  sseTap: () => createResponseTap(tapOptions("text/event-stream")),
  admission: () =>
    new ExchangeAdmission({}, { route: matchRoute("POST", "/api/chat"), request: {}, clientIp: "" }),
};
const verdict = {};
for (const [name, make] of Object.entries(pairs)) {
  const a = make();
  const b = make();
  verdict[name] = { fast: %HasFastProperties(a), sameMap: %HaveSameMap(a, b) };
}
console.log(JSON.stringify(verdict));
`;

describe("per-exchange objects", () => {
  it("are fast objects that share one hidden class", () => {
    const out = execFileSync(
      process.execPath,
      ["--allow-natives-syntax", "--input-type=module", "-e", script],
      { cwd: fileURLToPath(new URL(".", import.meta.url)), encoding: "utf8" },
    );
    const verdict = JSON.parse(out) as Record<
      string,
      { fast: boolean; sameMap: boolean }
    >;
    expect(Object.keys(verdict)).toHaveLength(5);
    for (const [name, shape] of Object.entries(verdict))
      expect({ name, ...shape }).toEqual({ name, fast: true, sameMap: true });
  });
});
