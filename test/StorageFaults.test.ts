import { describe, expect, it } from "vitest"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runCli } from "./support/Cli.js"

const noStackTrace = /\n\s+at /

describe("database trouble gets one clear error", () => {
  it("a corrupt database file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "corrupt-"))
    writeFileSync(join(dir, "catalyst-bot.sqlite"), "this is not a database ".repeat(100))
    const result = await runCli(["once"], { DATA_DIR: dir })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("StorageError")
    expect(result.stderr).toContain("file is not a database")
    expect(result.stderr).not.toMatch(noStackTrace)
  }, 120_000)

  it("a data dir that can't be written", async () => {
    const result = await runCli(["once"], { DATA_DIR: "/proc/self" })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("unable to open database file")
    expect(result.stderr).not.toMatch(noStackTrace)
  }, 120_000)

  it("a data dir that is a file", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "notadir-")), "file")
    writeFileSync(file, "")
    const result = await runCli(["once"], { DATA_DIR: join(file, "data") })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/DATA_DIR .* can't be created/)
    expect(result.stderr).not.toMatch(noStackTrace)
  }, 120_000)
})
