import { afterEach, describe, expect, it } from "vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli, spawnCli } from "./support/Cli.js"

const noStackTrace = /\n\s+at /

/** No feeds and a random health port: the bots talk to nothing, so two can run side by side. */
const quietEnv = (dir: string) => {
  const feedsFile = join(dir, "feeds.json")
  writeFileSync(feedsFile, "[]")
  return { DATA_DIR: dir, FEEDS_FILE: feedsFile, HEALTH_PORT: "0", POLL_SECONDS: "3600", POLL_SECONDS_CLOSED: "3600" }
}

const started: Array<ReturnType<typeof spawnCli>> = []
afterEach(() => {
  for (const bot of started.splice(0)) bot.child.kill("SIGKILL")
})

describe("one bot per DATA_DIR", () => {
  it("a second run or once refuses at start-up, naming the directory and the holder's pid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "instance-lock-"))
    const env = quietEnv(dir)
    const first = spawnCli(["run"], env)
    started.push(first)
    await first.waitFor(/catalyst-bot starting/, 240_000)

    for (const command of ["run", "once"]) {
      const second = await runCli([command], env)
      expect(second.code).toBe(1)
      const lines = second.stderr.trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(`DATA_DIR ${dir} is in use by another catalyst-bot (pid ${first.child.pid})`)
      expect(second.stderr).not.toMatch(noStackTrace)
    }

    // Reading commands still work beside the running bot.
    const report = await runCli(["report", "--format", "json", "--out", join(dir, "reports")], env)
    expect(report.code).toBe(0)
  }, 600_000)

  it("kill -9 leaves no stale lock: the next instance starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "instance-lock-"))
    const env = quietEnv(dir)
    const first = spawnCli(["run"], env)
    started.push(first)
    await first.waitFor(/catalyst-bot starting/, 240_000)
    first.child.kill("SIGKILL")
    await first.exited

    const next = await runCli(["once"], env)
    expect(next.stderr).not.toContain("in use by another catalyst-bot")
    expect(next.code).toBe(0)
  }, 600_000)
})
