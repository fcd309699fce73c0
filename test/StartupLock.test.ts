import Database from "better-sqlite3"
import { afterEach, describe, expect, it } from "vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli, spawnCli } from "./support/Cli.js"

const noStackTrace = /\n\s+at /

/** Another process's write transaction on the bot's database, held until `release`. */
const holdWriteLock = (dir: string) => {
  const db = new Database(join(dir, "catalyst-bot.sqlite"))
  db.pragma("journal_mode = WAL")
  db.exec("BEGIN EXCLUSIVE")
  return {
    db,
    release: () => {
      if (db.inTransaction) db.exec("ROLLBACK")
    }
  }
}

const quietEnv = (dir: string) => {
  const feedsFile = join(dir, "feeds.json")
  writeFileSync(feedsFile, "[]")
  return {
    DATA_DIR: dir,
    FEEDS_FILE: feedsFile,
    HEALTH_PORT: "0",
    POLL_SECONDS: "3600",
    POLL_SECONDS_CLOSED: "3600",
    SEC_POLL_SECONDS: "3600",
    SQLITE_BUSY_TIMEOUT_MS: "300"
  }
}

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

describe("a write lock held by another process at start-up", () => {
  it("once waits the busy timeout, then says so in one line, naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "startup-lock-"))
    const lock = holdWriteLock(dir)
    cleanups.push(() => lock.db.close())
    const result = await runCli(["once"], quietEnv(dir))
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `DatabaseLocked: database ${join(dir, "catalyst-bot.sqlite")} is locked by another connection (still busy after SQLITE_BUSY_TIMEOUT_MS=300)`
    )
    expect(result.stderr).not.toMatch(noStackTrace)
  }, 600_000)

  it("run keeps retrying with backoff, and starts once the lock is gone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "startup-lock-"))
    const lock = holdWriteLock(dir)
    const bot = spawnCli(["run"], quietEnv(dir))
    cleanups.push(() => {
      bot.child.kill("SIGKILL")
      lock.db.close()
    })
    await bot.waitFor(
      /is locked by another connection[^\n]*trying again[\s\S]*is locked by another connection/,
      300_000
    )
    expect(bot.child.exitCode).toBeNull()
    lock.release()
    const deadline = Date.now() + 240_000
    const migrated = () =>
      lock.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'outbox'").get() as { n: number }
    while (migrated().n === 0) {
      if (Date.now() > deadline)
        throw new Error(
          `run never started; stderr: ${await Promise.race([bot.exited.then((r) => r.stderr), Promise.resolve("(still running)")])}`
        )
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(bot.child.exitCode).toBeNull()
  }, 600_000)
})
