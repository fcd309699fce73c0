import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize, relative } from "node:path"
import ts from "typescript"

/**
 * The folders of `src/` are the architecture (docs/ARCHITECTURE.md): each may import only the folders
 * below it, so there are no cycles between folders, and a service's tag says where it lives.
 */
const layers = [
  "Kernel",
  "Feeds",
  "Storage",
  "Classification",
  "MarketData",
  "Charts",
  "Delivery",
  "Outcomes",
  "Runner",
  "World",
  "App"
] as const

const srcDir = join(import.meta.dirname, "../src")

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

const files = sourceFiles(srcDir).map((file) => relative(srcDir, file))
const folderOf = (file: string) => (file.includes("/") ? file.split("/")[0]! : null)

const importsOf = (file: string) =>
  ts
    .preProcessFile(readFileSync(join(srcDir, file), "utf8"), true, true)
    .importedFiles.map((ref) => ref.fileName)
    .filter((name) => name.startsWith("."))
    .map((name) => normalize(join(dirname(file), name)))

describe("source layout", () => {
  it("every file under src/ sits in one of the known folders", () => {
    const stray = files.filter((file) => {
      const folder = folderOf(file)
      return folder === null ? file !== "main.ts" : !(layers as ReadonlyArray<string>).includes(folder)
    })
    expect(stray).toEqual([])
  })

  it("no folder imports a folder above it", () => {
    const upward = files.flatMap((file) => {
      const from = folderOf(file)
      if (from === null) return []
      return importsOf(file).flatMap((target) => {
        const to = folderOf(target)
        if (to === null) return [`${file} imports ${target}`]
        return layers.indexOf(to as (typeof layers)[number]) > layers.indexOf(from as (typeof layers)[number])
          ? [`${file} (${from}) imports ${target} (${to})`]
          : []
      })
    })
    expect(upward).toEqual([])
  })

  it("a service's tag is its folder and its class name", () => {
    const services = files.flatMap((file) =>
      [
        ...readFileSync(join(srcDir, file), "utf8").matchAll(
          /class (\w+) extends (?:Effect\.Service<\w+>\(\)|Context\.Tag)\("([^"]+)"/g
        )
      ].map(([, name, tag]) => ({ file, name: name!, tag: tag! }))
    )
    expect(services.length).toBeGreaterThan(30)
    const mismatched = services.filter(({ file, name, tag }) => tag !== `${dirname(file)}/${name}`)
    expect(mismatched).toEqual([])
  })
})
