// The stack tier on its own (make test-stack): slow, needs Docker, so it is not part of `make test`.
// global-setup.ts finds the engine and the images first; the one suite file brings the stack up itself.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root,
  resolve: {
    alias: {
      "@proxy": fileURLToPath(new URL("../../proxy/src", import.meta.url)),
    },
  },
  test: {
    name: "stack",
    include: ["test/stack/**/*.test.ts"],
    globalSetup: ["test/stack/global-setup.ts"],
    // Building stand-ins and the proxy image on a cold cache takes minutes.
    hookTimeout: 20 * 60_000,
    testTimeout: 5 * 60_000,
    fileParallelism: false,
  },
});
