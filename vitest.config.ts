import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Fails any test that reaches beyond loopback, in-process or in a bot it spawns.
    setupFiles: ["test/support/NetworkGuardSetup.ts"],
    // A throwaway PostgreSQL server for the stores' tests against both databases.
    globalSetup: ["test/support/PostgresSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default"]
  }
})
