/**
 * `npm run bench:insider`: a peak of Form 4s (their index.json and ownership XML read through the
 * shared SEC budget's background lane) beside the live feed's one getcurrent request a second.
 * Reports the live feed's request time p95 against a run without Form 4s, and the busiest second
 * SEC saw (fair access: at most 10 requests/s).
 */
import { HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { withConfig } from "../src/App/Layers.js"
import { InsiderTrades } from "../src/Classification/InsiderTrades.js"
import { SecClient } from "../src/Kernel/SecClient.js"
import * as FakeSec from "../src/World/FakeSec.js"
import { type BenchReport, isMain, percentile, publish } from "./lib.js"

const seconds = 30
/** A peak hour of several hundred Form 4s, compressed: this many in `seconds`. */
const form4Count = 90
/** SecClient spaces slots 1.1 s / SEC_RATE_LIMIT apart (10% headroom); the default limit is 10. */
const slotMs = 110

const filings = Array.from({ length: form4Count }, (_, n): FakeSec.FakeFiling => ({
  form: "4",
  accession: `0001209191-26-${String(n).padStart(6, "0")}`,
  updated: new Date(Date.now() - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00",
  parties: [
    { company: `OWNER ${n}`, cik: 1_800_000 + n, role: "Reporting" },
    { company: `ISSUER ${n % 24}`, cik: 1_900_001 + (n % 24), role: "Issuer" }
  ],
  ownership: {
    issuerCik: 1_900_001 + (n % 24),
    issuerSymbol: `ISS${n % 24}`,
    owner: { cik: 1_800_000 + n, name: `OWNER ${n}`, isOfficer: true, officerTitle: "CEO" },
    transactions: [{ date: "2026-12-01", code: "P", shares: 10_000 + n, price: 3, sharesOwnedAfter: 50_000 }]
  }
}))

const busiestSecond = (times: ReadonlyArray<number>) => {
  const sorted = [...times].sort((a, b) => a - b)
  let best = 0
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= 1_000) start++
    best = Math.max(best, end - start + 1)
  }
  return best
}

const scenario = (withForm4s: boolean) =>
  Effect.gen(function* () {
    const sec = yield* FakeSec.make({ filings, latencyMs: 100 })
    const dataDir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "bench-insider-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const layer = Layer.mergeAll(InsiderTrades.Default, SecClient.Default).pipe(
      Layer.provide(NodeHttpClient.layerUndici),
      withConfig({ DATA_DIR: dataDir, SEC_BASE_URL: sec.url, SEC_USER_AGENT: "catalyst-bot bench admin@example.com" })
    )
    return yield* Effect.gen(function* () {
      const client = yield* SecClient
      const insiders = yield* InsiderTrades
      const live = yield* client.priorityClient
      const liveTimes: Array<number> = []
      const started = Date.now()
      const feed = Effect.forEach(
        Array.from({ length: seconds }, (_, n) => n),
        (n) =>
          Effect.gen(function* () {
            yield* Effect.sleep(Math.max(0, started + n * 1_000 - Date.now()))
            const t0 = performance.now()
            yield* live
              .execute(HttpClientRequest.get(`${sec.url}/cgi-bin/browse-edgar?action=getcurrent&type=&count=100`))
              .pipe(
                Effect.flatMap((response) => response.text),
                Effect.scoped,
                Effect.orDie
              )
            liveTimes.push(performance.now() - t0)
          }),
        { discard: true }
      )
      const form4s = Effect.forEach(
        filings,
        (filing, n) =>
          Effect.gen(function* () {
            yield* Effect.sleep(Math.max(0, started + (n * seconds * 1_000) / form4Count - Date.now()))
            return yield* insiders.verdict({
              formType: "4",
              cik: String(filing.ownership!.issuerCik).padStart(10, "0"),
              accession: filing.accession,
              items: [],
              companyName: filing.parties[1]!.company
            })
          }),
        { concurrency: "unbounded" }
      )
      const [, verdicts] = yield* Effect.all([feed, withForm4s ? form4s : Effect.succeed([])], {
        concurrency: "unbounded"
      })
      return {
        p95: percentile(liveTimes, 95),
        alerted: verdicts.filter((verdict) => verdict._tag === "Alert").length,
        busiest: busiestSecond(sec.requests().map((request) => request.at)),
        handledInS: (Date.now() - started) / 1_000
      }
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

export const run = async (): Promise<BenchReport> => {
  const bare = await Effect.runPromise(scenario(false))
  const loaded = await Effect.runPromise(scenario(true))
  return {
    name: "insider",
    figures: [
      {
        label: `live feed request p95 with ${form4Count} Form 4s in ${seconds} s`,
        value: loaded.p95,
        unit: "ms",
        baseline: { label: "live feed alone", value: bare.p95 },
        ratio: bare.p95 / loaded.p95
      },
      {
        // The dispenser can't take back a slot already handed to a background request: the live feed waits for it at most.
        label: "live feed p95 added by the Form 4s",
        value: loaded.p95 - bare.p95,
        unit: "ms",
        target: `≤ one SEC slot (${slotMs} ms)`,
        pass: loaded.p95 - bare.p95 <= slotMs
      },
      {
        label: "busiest second at SEC",
        value: loaded.busiest,
        unit: "requests",
        target: "≤ 10",
        pass: loaded.busiest <= 10
      },
      {
        label: "Form 4 purchases decided",
        value: loaded.alerted,
        unit: `of ${form4Count}`,
        pass: loaded.alerted === form4Count
      },
      { label: "time to handle them all", value: loaded.handledInS, unit: "s" }
    ]
  }
}

if (isMain(import.meta.url)) publish(await run())
