import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"

/** One measured figure, with the baseline it is compared against in the same run. */
export interface Figure {
  readonly label: string
  readonly value: number
  readonly unit: string
  /** The same work done the naive way, measured in the same run on the same machine. */
  readonly baseline?: { readonly label: string; readonly value: number }
  /** value / baseline (or baseline / value for times, so that bigger is always better); say which. */
  readonly ratio?: number
  readonly target?: string
  readonly pass?: boolean
}

export interface BenchReport {
  readonly name: string
  readonly figures: ReadonlyArray<Figure>
}

export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href

export const formatReport = (report: BenchReport): string =>
  [
    `## ${report.name}`,
    "",
    "| figure | value | baseline | ratio | target | pass |",
    "| --- | --- | --- | --- | --- | --- |",
    ...report.figures.map(
      (f) =>
        `| ${f.label} | ${round(f.value)} ${f.unit} | ${f.baseline ? `${f.baseline.label}: ${round(f.baseline.value)}` : ""} | ${f.ratio === undefined ? "" : `${round(f.ratio)}×`} | ${f.target ?? ""} | ${f.pass === undefined ? "" : f.pass ? "yes" : "NO"} |`
    )
  ].join("\n")

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 100) / 100)

/** Prints the report and writes bench/results/<name>.json, so `npm run bench` can gather them. */
export const publish = (report: BenchReport): void => {
  console.log(formatReport(report))
  mkdirSync("bench/results", { recursive: true })
  writeFileSync(`bench/results/${report.name}.json`, JSON.stringify(report, null, 2) + "\n")
}

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

/**
 * A helper server (`bench/<script>.ts`) in a process of its own, so its work doesn't load the measured one:
 * yields the first line it prints, and stops it (by closing its stdin) with the scope.
 */
export const helperProcess = (script: string, args: ReadonlyArray<string> = []) =>
  Effect.acquireRelease(
    Effect.async<{ readonly firstLine: string; readonly stop: () => void }>((resume) => {
      const child = spawn(process.execPath, ["--import", "tsx", `bench/${script}.ts`, ...args], {
        stdio: ["pipe", "pipe", "inherit"]
      })
      let printed = ""
      const onExit = (code: number | null) =>
        resume(Effect.dieMessage(`bench/${script}.ts exited (code ${code}) before it printed a line`))
      const onData = (chunk: Buffer) => {
        printed += chunk.toString()
        const end = printed.indexOf("\n")
        if (end < 0) return
        child.stdout.off("data", onData)
        child.off("exit", onExit)
        resume(Effect.succeed({ firstLine: printed.slice(0, end).trim(), stop: () => child.stdin.end() }))
      }
      child.stdout.on("data", onData)
      child.once("exit", onExit)
    }),
    ({ stop }) => Effect.sync(stop)
  )
