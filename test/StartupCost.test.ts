import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"
import { afterEach, describe, expect, it } from "vitest"
import { runCli } from "./support/Cli.js"

const root = join(import.meta.dirname, "..")
const preload = pathToFileURL(join(import.meta.dirname, "support/ModuleLogPreload.mjs")).href
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }

const dirs: Array<string> = []
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Runs the CLI with every module it loads logged; returns the result and the loaded modules' URLs. */
const runLogged = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const log = join(tempDir("module-log-"), "modules.log")
  writeFileSync(log, "")
  const result = await runCli(args, { ...env, NODE_OPTIONS: `--import ${preload}`, MODULE_LOG: log })
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((line) => line !== "")
  return { result, modules }
}

const loaded = (modules: ReadonlyArray<string>, fragment: string) => modules.filter((url) => url.includes(fragment))

describe("what a command loads", () => {
  it("--version prints the package version without loading Effect, the platform, SQL or the charts", async () => {
    const { result, modules } = await runLogged(["--version"])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe(version)
    expect(loaded(modules, "/src/main.ts")).toHaveLength(1)
    for (const heavy of ["/node_modules/effect/", "/node_modules/@effect/", "/src/Charts/", "/src/Kernel/Sql"]) {
      expect(loaded(modules, heavy), heavy).toEqual([])
    }
  }, 120_000)

  it("a cycle with LLM_PROVIDER=none, SQLite, one process and nothing to chart or scrape loads no LLM provider, ECharts, pg, cluster or Prometheus encoder", async () => {
    const { result, modules } = await runLogged(["once"], { LLM_PROVIDER: "none" })
    expect(result.code, result.stderr).toBe(0)
    expect(loaded(modules, "/src/Runner/Runner.ts")).toHaveLength(1)
    for (const heavy of [
      "/node_modules/@effect/ai-openai/",
      "/node_modules/@effect/ai-anthropic/",
      "/node_modules/echarts/",
      "/node_modules/@effect/sql-pg/",
      "/node_modules/pg/",
      "/node_modules/@effect/cluster/",
      "/node_modules/@effect/rpc/",
      "/node_modules/msgpackr/",
      "/node_modules/prom-client/"
    ]) {
      expect(loaded(modules, heavy), heavy).toEqual([])
    }
  }, 240_000)

  it("with LLM_PROVIDER=openai, a cycle that sends nothing to the LLM never loads @effect/ai-openai", async () => {
    const { result, modules } = await runLogged(["once"], { LLM_PROVIDER: "openai", LLM_API_KEY: "sk-test" })
    expect(result.code, result.stderr).toBe(0)
    expect(loaded(modules, "/src/Classification/Providers.ts")).toHaveLength(1)
    expect(loaded(modules, "/node_modules/@effect/ai-openai/")).toEqual([])
  }, 240_000)
})

/** A project with its own tsconfigs, compiling src/ into dist/ like this one's. */
const tinyProject = () => {
  const project = tempDir("build-if-stale-")
  mkdirSync(join(project, "src"))
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "p", type: "module" }))
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { module: "NodeNext", target: "ES2022", strict: true, noEmit: true } })
  )
  writeFileSync(
    join(project, "tsconfig.build.json"),
    JSON.stringify({
      extends: "./tsconfig.json",
      compilerOptions: { noEmit: false, rootDir: "src", outDir: "dist" },
      include: ["src"]
    })
  )
  return project
}

describe("npm start's build check (scripts/build-if-stale.mjs)", () => {
  const script = join(root, "scripts/build-if-stale.mjs")
  // Rejects (failing the test) when the script exits non-zero.
  const prestart = (cwd: string) => promisify(execFile)(process.execPath, [script], { cwd })

  it("compiles when src/ changed since the last build, and skips tsc when nothing did", async () => {
    const project = tinyProject()
    const main = join(project, "src/main.ts")
    const output = join(project, "dist/main.js")
    writeFileSync(main, "export const answer: number = 41\n")

    await prestart(project)
    expect(readFileSync(output, "utf8")).toContain("answer = 41")

    // Nothing changed: tsc does not run, so an output edited behind its back stays as it is.
    writeFileSync(output, "// left alone\n")
    await prestart(project)
    expect(readFileSync(output, "utf8")).toBe("// left alone\n")

    writeFileSync(main, "export const answer: number = 42\n")
    await prestart(project)
    expect(readFileSync(output, "utf8")).toContain("answer = 42")

    // A new file counts as a change too.
    writeFileSync(output, "// left alone\n")
    writeFileSync(join(project, "src/extra.ts"), "export const extra = 1\n")
    await prestart(project)
    expect(readFileSync(output, "utf8")).toContain("answer = 42")
  }, 240_000)
})

describe("npm start (scripts/start.mjs)", () => {
  it("is one node process: no prestart, the start script itself checks the build and then runs dist/main.js", async () => {
    const { scripts } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      scripts: Record<string, string>
    }
    expect(scripts.prestart).toBeUndefined()
    expect(scripts.start).toMatch(/^node .*scripts\/start\.mjs run$/)

    const project = tinyProject()
    const main = join(project, "src/main.ts")
    // The tiny project has no @types/node.
    const node = "declare const process: { argv: Array<string> }\n"
    writeFileSync(main, `${node}console.log("main", process.argv.slice(2).join(" "), 41 as number)\n`)
    const start = () =>
      promisify(execFile)(process.execPath, [join(root, "scripts/start.mjs"), "run"], { cwd: project })

    // Stale dist/ (none yet): compiled, then run in the same process with the CLI's arguments.
    expect((await start()).stdout).toBe("main run 41\n")
    // Nothing changed: not compiled again, still run.
    writeFileSync(join(project, "dist/main.js"), 'console.log("left alone")\n')
    expect((await start()).stdout).toBe("left alone\n")
    writeFileSync(main, `${node}console.log("main", process.argv.slice(2).join(" "), 42 as number)\n`)
    expect((await start()).stdout).toBe("main run 42\n")
  }, 240_000)
})
