import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const alias = {
  "@proxy": fileURLToPath(new URL("./proxy/src", import.meta.url)),
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: "unit", include: ["test/unit/**/*.test.ts"] },
      },
      {
        resolve: { alias },
        test: {
          name: "config",
          include: ["test/config/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
