import { defineConfig } from "vitest/config";

// Two projects: `unit` needs nothing but Node, tmux and SQLite; `synapse` files
// (named *.synapse.test.ts) share one throwaway homeserver started by the global setup.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["bot/test/**/*.test.ts", "sandbox/test/**/*.test.ts", "testkit/test/**/*.test.ts"],
          exclude: ["**/*.synapse.test.ts", "**/node_modules/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "synapse",
          include: ["bot/test/**/*.synapse.test.ts"],
          globalSetup: ["testkit/src/synapse-global-setup.ts"],
          fileParallelism: false,
        },
      },
    ],
  },
});
