import Database from "better-sqlite3"
import { Data, Effect, Layer } from "effect"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { AppConfig } from "./AppConfig.js"
import { StorageError } from "./Sql.js"

export class InstanceLocked extends Data.TaggedError("InstanceLocked")<{ readonly message: string }> {}

const lockFile = (dataDir: string) => join(dataDir, "instance.lock")
const pidFile = (dataDir: string) => join(dataDir, "instance.pid")

const holderPid = (dataDir: string): string => {
  try {
    return readFileSync(pidFile(dataDir), "utf8").trim() || "unknown"
  } catch {
    return "unknown"
  }
}

/**
 * Node has no flock, so the lock is SQLite's: a separate database held open in
 * `locking_mode=EXCLUSIVE` after one write (https://www.sqlite.org/pragma.html#pragma_locking_mode).
 * SQLite's file locks belong to the process, so the OS drops them on any exit, kill -9 included:
 * a stale lock can't outlive its holder. The locked database can't be read by anyone else, so the
 * holder's pid goes to a side file, for the message only.
 */
const acquire = (dataDir: string) =>
  Effect.try({
    try: () => mkdirSync(dataDir, { recursive: true }),
    catch: (error) => new StorageError({ message: `DATA_DIR ${resolve(dataDir)} can't be created: ${String(error)}` })
  }).pipe(Effect.zipRight(lock(dataDir)))

const lock = (dataDir: string) =>
  Effect.try({
    try: () => {
      const db = new Database(lockFile(dataDir), { timeout: 0 })
      try {
        db.pragma("locking_mode = EXCLUSIVE")
        db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)")
        db.exec(`DELETE FROM holder; INSERT INTO holder VALUES (${process.pid})`)
      } catch (error) {
        db.close()
        throw error
      }
      writeFileSync(pidFile(dataDir), `${process.pid}\n`)
      return db
    },
    catch: (error) => {
      const code = (error as { code?: unknown }).code
      const dir = resolve(dataDir)
      return new InstanceLocked({
        message:
          code === "SQLITE_BUSY" || code === "SQLITE_LOCKED"
            ? `DATA_DIR ${dir} is in use by another catalyst-bot (pid ${holderPid(dataDir)}); stop it or give this one its own DATA_DIR`
            : `DATA_DIR ${dir} can't be locked for this instance: ${error instanceof Error ? error.message : String(error)}`
      })
    }
  })

/**
 * One bot per DATA_DIR: `run` and `once` hold this for the process's life, so a second instance
 * refuses at start-up instead of sending every alert twice. Read-only commands don't take it.
 */
export const InstanceLockLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const { storage, cluster } = yield* AppConfig
    // Cluster runners may share a host and DATA_DIR: who sends what is settled by the cluster's leases.
    if (storage.dataDir === ":memory:" || cluster.enabled) return
    yield* Effect.acquireRelease(acquire(storage.dataDir), (db) =>
      Effect.sync(() => {
        rmSync(pidFile(storage.dataDir), { force: true })
        db.close()
      })
    )
  })
).pipe(Layer.provide(AppConfig.Default))
