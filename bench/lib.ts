import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
import type { Target } from "./targets.js"

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

/**
 * One figure of a bench's quick mode, for `npm run bench:check`: `ratio` against the baseline measured in the same
 * run, compared with `target.ratio` (bench/targets.ts). `detail` says what the ratio was made of.
 */
export interface CheckedFigure {
  readonly label: string
  readonly ratio: number
  readonly target: Target
  readonly detail: string
}

export const median = (values: ReadonlyArray<number>): number => percentile(values, 50)

/**
 * `rounds` rounds of baseline then candidate, alternating, so a burst of load from other processes hits both alike;
 * the medians of each.
 */
export const alternating = <E, R>(
  rounds: number,
  baseline: Effect.Effect<number, E, R>,
  candidate: Effect.Effect<number, E, R>
) =>
  Effect.gen(function* () {
    const baselines: Array<number> = []
    const candidates: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      baselines.push(yield* baseline)
      candidates.push(yield* candidate)
    }
    return { baseline: median(baselines), candidate: median(candidates) }
  })

/**
 * The calling thread's time on a CPU and waiting in the run queue for one, ms, from Linux's
 * /proc/thread-self/schedstat (see the kernel's Documentation/scheduler/sched-stats.rst); zeros where there is none.
 */
export const threadSchedule = (): { readonly onCpuMs: number; readonly waitingMs: number } => {
  try {
    const [onCpu = "0", waiting = "0"] = readFileSync("/proc/thread-self/schedstat", "utf8").trim().split(/\s+/)
    return { onCpuMs: Number(onCpu) / 1e6, waitingMs: Number(waiting) / 1e6 }
  } catch {
    return { onCpuMs: 0, waitingMs: 0 }
  }
}

/**
 * A clock that stops while this thread waits for a CPU held by other processes: elapsed times as an unloaded machine
 * would show them, so that a quick ratio of waits (concurrent versus sequential) holds on a busy machine.
 */
export const unloadedNow = (): number => performance.now() - threadSchedule().waitingMs
