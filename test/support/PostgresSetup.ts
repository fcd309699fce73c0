import type { TestProject } from "vitest/node"
import { notInstalled, startPostgres } from "./PostgresServer.js"

/**
 * vitest global setup (vitest.config.ts `globalSetup`): one throwaway PostgreSQL server for the
 * whole run; test files reach it through `inject("postgresUrl")` (see Databases.ts) and each makes
 * its own databases on it. Without the server binaries the run stops with one line saying how to
 * install them: these tests never skip.
 */
export default async function setup(project: TestProject) {
  const server = await startPostgres().catch((error: unknown) => {
    if (error instanceof Error && error.message === notInstalled) {
      console.error(notInstalled)
      process.exit(1)
    }
    throw error
  })
  project.provide("postgresUrl", server.url)
  return () => server.dispose()
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresUrl: string
  }
}
