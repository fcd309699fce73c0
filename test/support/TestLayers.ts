import { ConfigProvider, Effect, Layer } from "effect"
import { DatabaseWatch } from "../../src/Kernel/DatabaseWatch.js"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** Configuration from a plain record, exactly as the environment would give it. */
export const configLayer = (values: Record<string, string | number | boolean>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values).map(([k, v]) => [k, String(v)]))))

/** A fresh directory for a test's SQLite file, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "catalyst-bot-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Config pointing DATA_DIR at a scoped temp directory, plus any overrides. */
export const tempDataConfig = (values: Record<string, string | number | boolean> = {}) =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => configLayer({ DATA_DIR: dir, ...values })))

/** A database that always answers, for tests of the runner without SQL. */
export const databaseAnswering = DatabaseWatch.Test({
  outage: Effect.succeedNone,
  awaitAvailable: Effect.void,
  isLoss: () => Effect.succeed(false)
})
