/**
 * `npm run bench:check`: the quick mode of every critical-path bench, in one process, for CI. Each figure is a ratio
 * against a baseline measured in the same run (rounds alternating, medians), compared with its documented target in
 * bench/targets.ts. A bench with a figure that misses is measured once more; only a second miss fails the check.
 *
 * `npm run bench:check -- feeds charts` runs only the named ones.
 *
 * To add a bench: export `quick(): Promise<ReadonlyArray<CheckedFigure>>` from bench/<name>.ts (targets in
 * bench/targets.ts, a `ratio` bound each) and add `{ name, quick }` to `checks` below.
 */
import { loadavg } from "node:os"
import { setTimeout as sleep } from "node:timers/promises"
import * as charts from "./charts.js"
import * as latency from "./latency.js"
import * as memory from "./memory.js"
import * as discord from "./discord.js"
import * as feeds from "./feeds.js"
import type { CheckedFigure } from "./lib.js"
import * as llm from "./llm.js"
import * as otel from "./otel.js"
import * as quotes from "./quotes.js"
import * as store from "./store.js"
import { type Bound, within } from "./targets.js"

interface Check {
  readonly name: string
  readonly quick: () => Promise<ReadonlyArray<CheckedFigure>>
  /** Overrides `timeoutMs`, for a check that runs a live market for a fixed time. */
  readonly timeoutMs?: number
}

const checks: ReadonlyArray<Check> = [
  { name: "feeds", quick: feeds.quick },
  { name: "store", quick: store.quick },
  { name: "llm", quick: llm.quick },
  { name: "quotes", quick: quotes.quick },
  { name: "charts", quick: charts.quick },
  { name: "discord", quick: discord.quick },
  { name: "otel", quick: otel.quick },
  { name: "memory", quick: memory.checked },
  { name: "latency", quick: latency.checked, timeoutMs: 300_000 }
]

/** Far above any bench's quick mode even at a load average of 40 on 2 cores: beyond it, the path has regressed. */
const timeoutMs = 150_000

interface Attempt {
  readonly figures: ReadonlyArray<CheckedFigure>
  readonly seconds: number
  /** 1-minute load average at the start and the end of the attempt. */
  readonly load: readonly [number, number]
  readonly error?: string
}

const attempt = async (check: Check): Promise<Attempt> => {
  const started = performance.now()
  const loadBefore = loadavg()[0]!
  const limitMs = check.timeoutMs ?? timeoutMs
  const timeout = sleep(limitMs, "timeout" as const, { ref: false })
  let figures: ReadonlyArray<CheckedFigure> = []
  let error: string | undefined
  try {
    const result = await Promise.race([check.quick(), timeout])
    if (result === "timeout") error = `did not finish within ${limitMs / 1000} s`
    else figures = result
  } catch (cause) {
    error = cause instanceof Error ? cause.message : String(cause)
  }
  return {
    figures,
    seconds: (performance.now() - started) / 1000,
    load: [loadBefore, loadavg()[0]!],
    ...(error === undefined ? {} : { error })
  }
}

const missed = (figure: CheckedFigure) => !within(figure.target.ratio, figure.ratio)

const boundText = (bound: Bound | undefined) =>
  bound === undefined ? "no ratio bound" : "atLeast" in bound ? `≥ ${bound.atLeast}` : `≤ ${bound.atMost}`

/** How far a ratio is on the wrong side of its bound, as a share of the bound (or absolute, for a bound of 0). */
const shortfall = (ratio: number, bound: Bound | undefined) => {
  if (bound === undefined) return "the target has no ratio bound (a defect of bench/targets.ts)"
  const limit = "atLeast" in bound ? bound.atLeast : bound.atMost
  const by = Math.abs(ratio - limit)
  return limit === 0 ? `off by ${round(by)}` : `off by ${round(by)} (${Math.round((100 * by) / limit)}% of the bound)`
}

const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000)

const loadText = (load: readonly [number, number]) => `load ${load[0].toFixed(2)}→${load[1].toFixed(2)}`

const line = (figure: CheckedFigure, verdict: string, load: readonly [number, number]) =>
  `${verdict} ${figure.label}: ${round(figure.ratio)}× (target ${figure.target.text}: ratio ${boundText(figure.target.ratio)}; ${figure.detail}; ${loadText(load)})`

const started = performance.now()
const failures: Array<string> = []
console.log(`bench:check on ${loadText([loadavg()[0]!, loadavg()[0]!])} (1-minute average)`)
const only = process.argv.slice(2)
const unknown = only.filter((name) => !checks.some((check) => check.name === name))
if (unknown.length > 0) {
  console.log(`bench:check: no check named ${unknown.join(", ")}; there are ${checks.map((c) => c.name).join(", ")}`)
  process.exit(2)
}
for (const check of checks.filter((check) => only.length === 0 || only.includes(check.name))) {
  const first = await attempt(check)
  const firstMisses = first.error !== undefined || first.figures.some(missed)
  const second = firstMisses ? await attempt(check) : undefined
  const final = second ?? first
  if (final.error !== undefined) {
    const message = `FAIL ${check.name}: ${final.error} (twice; ${loadText(first.load)}, then ${loadText(final.load)})`
    failures.push(message)
    console.log(message)
    continue
  }
  for (const figure of final.figures) {
    const before = second === undefined ? undefined : first.figures.find((f) => f.label === figure.label)
    const earlier = before === undefined ? "" : ` [first attempt ${round(before.ratio)}×, ${loadText(first.load)}]`
    if (missed(figure)) {
      const message = `${line(figure, "FAIL", final.load)}: ${shortfall(figure.ratio, figure.target.ratio)}${earlier}`
      failures.push(message)
      console.log(message)
    } else {
      console.log(line(figure, "ok  ", final.load) + earlier)
    }
  }
  console.log(`    ${check.name}: ${Math.round(final.seconds + (second === undefined ? 0 : first.seconds))} s`)
}

const seconds = Math.round((performance.now() - started) / 1000)
if (failures.length > 0) {
  console.log(`\nbench:check FAILED in ${seconds} s, ${failures.length} figure(s) missed twice:`)
  for (const failure of failures) console.log(`  ${failure}`)
} else {
  console.log(`\nbench:check passed in ${seconds} s (${loadText([loadavg()[0]!, loadavg()[0]!])})`)
}
// A timed-out bench may still hold timers and servers open: its verdict is in.
process.exit(failures.length > 0 ? 1 : 0)
