import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { demoMarker, prepareOutput } from "../src/App/Demo.js"
import { runCli } from "./support/Cli.js"

const folder = () => mkdtempSync(join(tmpdir(), "demo-output-"))

describe("demo --output never deletes what the demo didn't write", () => {
  it.effect("a folder with someone else's files is refused and left as it was", () =>
    Effect.gen(function* () {
      const dir = folder()
      writeFileSync(join(dir, "notes.md"), "mine")
      mkdirSync(join(dir, "src"))
      const error = yield* Effect.flip(prepareOutput(dir))
      expect(error.message).toContain(`${dir} is not empty and was not written by an earlier demo`)
      expect(readdirSync(dir).sort()).toEqual(["notes.md", "src"])
    })
  )

  it.effect("an earlier demo's folder loses only its alert files", () =>
    Effect.gen(function* () {
      const dir = folder()
      yield* prepareOutput(dir)
      writeFileSync(join(dir, "001-ACME.json"), "{}")
      writeFileSync(join(dir, "001-chart.png"), "png")
      writeFileSync(join(dir, "keep.txt"), "mine")
      yield* prepareOutput(dir)
      expect(readdirSync(dir).sort()).toEqual([demoMarker, "keep.txt"])
    })
  )

  it.effect("a new folder is created and marked", () =>
    Effect.gen(function* () {
      const dir = join(folder(), "nested", "out")
      yield* prepareOutput(dir)
      expect(existsSync(join(dir, demoMarker))).toBe(true)
    })
  )

  it("the CLI refuses with one line and rc 1, leaving the folder intact", async () => {
    const dir = folder()
    writeFileSync(join(dir, "notes.md"), "mine")
    const result = await runCli(["demo", "--output", dir])
    expect(result.code).toBe(1)
    expect(result.stderr.trim().split("\n")).toEqual([
      `DemoOutputError: ${dir} is not empty and was not written by an earlier demo; pass --output with a new or empty folder`
    ])
    expect(readdirSync(dir)).toEqual(["notes.md"])
  }, 300_000)
})
