// The proxy's modules form no import cycle (type-only imports included): each concern's home can be read
// without reading the modules that use it.
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { listFiles, repoPath } from "./repo-files.ts";

const IMPORT = /^(?:import|export)\s[^;]*?\sfrom\s+"(\.{1,2}\/[^"]+)"/gms;

function importGraph(): Map<string, string[]> {
  const files = listFiles("proxy/src", ".ts").map((file) => repoPath(file));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const deps = [...text.matchAll(IMPORT)]
      .map((match) => resolve(dirname(file), match[1]!))
      .filter((dep) => known.has(dep));
    graph.set(file, deps);
  }
  return graph;
}

function findCycles(graph: Map<string, string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "open");
    path.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (state.get(dep) === "open")
        cycles.push(
          [...path.slice(path.indexOf(dep)), dep]
            .map((file) => relative(repoPath("proxy/src"), file))
            .join(" → "),
        );
      else if (!state.has(dep)) visit(dep);
    }
    path.pop();
    state.set(node, "done");
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe("proxy/src import graph", () => {
  it("reads the imports of every module", () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(40);
    expect(graph.get(repoPath("proxy/src/main.ts"))?.length).toBeGreaterThan(5);
  });

  it("has no cycle", () => {
    expect(findCycles(importGraph())).toEqual([]);
  });

  it("keeps the transport free of protocol knowledge: it imports no other module of the proxy", () => {
    const graph = importGraph();
    expect(graph.get(repoPath("proxy/src/http/transport.ts"))).toEqual([]);
  });

  it("would name a cycle", () => {
    const graph = new Map([
      [repoPath("proxy/src/a.ts"), [repoPath("proxy/src/b.ts")]],
      [repoPath("proxy/src/b.ts"), [repoPath("proxy/src/a.ts")]],
    ]);
    expect(findCycles(graph)).toEqual(["a.ts → b.ts → a.ts"]);
  });
});
