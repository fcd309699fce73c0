/**
 * `npm run bench:splice -- <name>…`: puts the named benches' latest results (bench/results/<name>.json)
 * into bench/results.md in place of their sections, or at the end, for a bench rerun on its own.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { type BenchReport, formatReport } from "./lib.js"

const file = "bench/results.md"
let text = readFileSync(file, "utf8")
for (const name of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(`bench/results/${name}.json`, "utf8")) as BenchReport
  const section = formatReport(report) + "\n"
  const start = text.indexOf(`\n## ${name}\n`)
  if (start < 0) {
    text = `${text.trimEnd()}\n\n${section}`
    continue
  }
  const next = text.indexOf("\n## ", start + 1)
  text = `${text.slice(0, start + 1)}${section}${next < 0 ? "" : text.slice(next)}`
}
writeFileSync(file, text)
