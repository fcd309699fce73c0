/**
 * `npm run bench`: every benchmark, each in its own process (so heap figures don't bleed into each
 * other), gathered into bench/results.json and bench/results.md.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { type BenchReport, formatReport } from "./lib.js"

const benches = [
  "store",
  "feeds",
  "classify",
  "llm",
  "quotes",
  "charts",
  "discord",
  "otel",
  "backtest",
  "cycle",
  "memory",
  "latency",
  "dashboard",
  "insider",
  "cluster",
  "routes"
] as const

const reports: Array<BenchReport> = []
const failures: Array<string> = []
for (const name of benches) {
  const resultFile = `bench/results/${name}.json`
  rmSync(resultFile, { force: true })
  console.log(`\n▶ bench:${name}`)
  const run = spawnSync("npm", ["run", "--silent", `bench:${name}`], { stdio: "inherit" })
  if (run.status === 0 && existsSync(resultFile)) {
    reports.push(JSON.parse(readFileSync(resultFile, "utf8")) as BenchReport)
  } else {
    failures.push(name)
  }
}

const machine = { node: process.version, cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) }
writeFileSync(
  "bench/results.json",
  JSON.stringify({ measuredAt: new Date().toISOString(), machine, reports, failures }, null, 2) + "\n"
)
writeFileSync(
  "bench/results.md",
  [
    `# Benchmarks`,
    "",
    `Measured ${new Date().toISOString()} on Node ${machine.node}, ${machine.cpus} cores, ${machine.memoryGiB} GiB.`,
    "Every ratio compares against a baseline measured in the same run.",
    "",
    ...reports.map((report) => formatReport(report) + "\n"),
    failures.length > 0 ? `Failed to run: ${failures.join(", ")}` : ""
  ].join("\n")
)
console.log(
  `\nwrote bench/results.json and bench/results.md${failures.length > 0 ? `; failed: ${failures.join(", ")}` : ""}`
)
process.exitCode = failures.length > 0 ? 1 : 0
