import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdminChannel } from "../src/Kernel/AdminChannel.js"
import { AlertSink } from "../src/Delivery/AlertSink.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { alertMessage } from "../src/Delivery/Discord/Embed.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import type { Alert, ChartOutcome } from "../src/Kernel/Domain.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { type BenchReport, type CheckedFigure, type Figure, isMain, median, publish } from "./lib.js"
import { judge, targets } from "./targets.js"
import { classificationFixture, itemFixture, makeAlert } from "../test/support/Alerts.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

/**
 * Delivered alerts/s against the fake server's configured per-webhook limit, through the real
 * outbox + delivery fiber + header-driven limiter, versus a naive sender in the same run that
 * ignores the headers and, like the old bot, retries a 429 once and then gives up. The rate is the
 * sustained one (after the first window's free burst), measured from the server's own record.
 * Those runs send one message per alert; the packed burst (several alerts per message) is measured
 * against that at the end (ratio: unpacked time / packed time, bigger is better).
 */

interface Scenario {
  readonly name: string
  readonly alerts: number
  readonly limit: number
  readonly windowMs: number
}

interface Outcome {
  readonly delivered: number
  /** Sustained rate: messages after the first window's burst, over the time from first to last. */
  readonly steadyRate: number
  readonly lost: number
  readonly seconds: number
  readonly rateLimited: number
}

const steadyRate = (times: ReadonlyArray<number>, burst: number): number => {
  if (times.length <= burst) return 0
  return ((times.length - burst) * 1000) / (times[times.length - 1]! - times[0]!)
}

const alert = (n: number): Alert =>
  makeAlert(
    itemFixture(`bench-${n}`, {
      title: `Bench headline ${n}`,
      summary: "A catalyst.",
      link: `https://example.com/${n}`,
      published: "2026-11-28T14:30:00.000Z",
      fetchedAt: "2026-11-28T14:30:01.000Z",
      tickers: [{ symbol: `B${n}`, exchange: "NASDAQ" }]
    }),
    {
      classification: classificationFixture({
        categories: ["contract"],
        score: 2,
        sentiment: 0.4,
        llm: { _tag: "Skipped", reason: "off" }
      }),
      market: { _tag: "PriceUnavailable", reason: "bench" },
      decidedAt: "2026-11-28T14:30:02.000Z"
    }
  )

/**
 * Charts are measured by bench:charts; here every other alert carries a ready 40 KB PNG, so the
 * figure is Discord's rate limiting and multipart sending, not chart rendering or a quote API.
 */
const PrerenderedCharts = Layer.succeed(
  ChartRenderer,
  ChartRenderer.make({
    forAlert: (alert) =>
      Effect.succeed<ChartOutcome>(
        Number(alert.item.id.split("-").at(-1)) % 2 === 0
          ? { _tag: "Rendered", chart: { filename: `${alert.ticker.symbol}.png`, png: new Uint8Array(40_000).fill(7) } }
          : { _tag: "NoBars" }
      ),
    prefetch: () => Effect.void,
    render: () => Effect.dieMessage("bench:discord renders no charts")
  })
)

/** The Discord sink without its packing: one message per alert, as before bursts packed. */
const unpackedSink = (url: string) =>
  Layer.effect(
    AlertSink,
    Effect.map(AlertSink, ({ packing: _packing, ...sink }) => AlertSink.of(sink))
  ).pipe(Layer.provide(DiscordSink.layer(Redacted.make(url))))

const headerDriven = (scenario: Scenario, packed = false) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord({ limit: scenario.limit, windowMs: scenario.windowMs })
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "bench-discord-"))),
      (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
    )
    const config = Layer.setConfigProvider(
      ConfigProvider.fromMap(
        new Map([
          ["DATA_DIR", dir],
          ["ALERTS_PER_TICKER_PER_MINUTE", "0"]
        ])
      )
    )
    const layer = Delivery.DefaultWithoutDependencies.pipe(
      Layer.provideMerge(
        packed ? DiscordSink.layer(Redacted.make(fake.webhookUrl())) : unpackedSink(fake.webhookUrl())
      ),
      Layer.provideMerge(
        Layer.mergeAll(
          Outbox.Default,
          EditOutbox.Default,
          PrerenderedCharts,
          AdminChannel.Default,
          DiscordWebhooks.Default,
          ErrorTracker.Default,
          AlertLatency.Default,
          DatabaseWatch.Default
        )
      ),
      Layer.provideMerge(Layer.mergeAll(NodeHttpClient.layerUndici, SqlLive, StatusBoard.Default, AppConfig.Default)),
      Layer.provide(config)
    )
    return yield* Effect.gen(function* () {
      const outbox = yield* Outbox
      const delivery = yield* Delivery
      yield* outbox.enqueue(Array.from({ length: scenario.alerts }, (_, i) => alert(i)))
      const started = performance.now()
      const startedAt = Date.now()
      const report = yield* delivery.awaitSettled(0, Duration.minutes(2))
      const seconds = (performance.now() - started) / 1000
      const lastOnDiscord = (Math.max(...fake.messages.map((m) => m.at)) - startedAt) / 1000
      return {
        delivered: fake.messages.length,
        steadyRate: steadyRate(
          fake.messages.map((m) => m.at),
          scenario.limit
        ),
        lost: scenario.alerts - report.delivered,
        seconds,
        lastOnDiscord,
        rateLimited: fake.requests.filter((r) => r.status === 429).length
      } satisfies Outcome & { readonly lastOnDiscord: number }
    }).pipe(Effect.provide(layer))
  }).pipe(Effect.scoped)

/** Fire each alert as soon as the previous answer is in; on 429 retry once, then give up. */
const naive = (scenario: Scenario) =>
  Effect.gen(function* () {
    const fake = yield* makeFakeDiscord({ limit: scenario.limit, windowMs: scenario.windowMs })
    const url = `${fake.webhookUrl()}?wait=true`
    const started = performance.now()
    yield* Effect.promise(async () => {
      for (let i = 0; i < scenario.alerts; i++) {
        const body = JSON.stringify(alertMessage(alert(i), { _tag: "NoBars" }).payload)
        const post = () => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })
        let response = await post()
        if (response.status === 429) response = await post()
        await response.arrayBuffer()
      }
    })
    const seconds = (performance.now() - started) / 1000
    return {
      delivered: fake.messages.length,
      steadyRate: steadyRate(
        fake.messages.map((m) => m.at),
        scenario.limit
      ),
      lost: scenario.alerts - fake.messages.length,
      seconds,
      rateLimited: fake.requests.filter((r) => r.status === 429).length
    } satisfies Outcome
  }).pipe(Effect.scoped)

const scenarios: ReadonlyArray<Scenario> = [
  { name: "burst 210, limit 30 per 1 s", alerts: 210, limit: 30, windowMs: 1_000 },
  { name: "burst 20, Discord's 5 per 2 s", alerts: 20, limit: 5, windowMs: 2_000 }
]

export const run = async (): Promise<BenchReport> => {
  const figures: Array<Figure> = []
  for (const scenario of scenarios) {
    const limitPerSecond = (scenario.limit * 1000) / scenario.windowMs
    const ours = await Effect.runPromise(headerDriven(scenario).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))
    const old = await Effect.runPromise(naive(scenario))
    const rate = ours.steadyRate
    const naiveRate = old.steadyRate
    const versusNaive = naiveRate > 0 ? { ratio: rate / naiveRate } : {}
    figures.push(
      {
        label: `${scenario.name}: sustained delivered alerts/s`,
        value: rate,
        unit: "alerts/s",
        baseline: { label: "naive sender (ignores headers, one 429 retry)", value: naiveRate },
        ...versusNaive,
        target: `≥ 90% of ${limitPerSecond}/s`,
        pass: rate >= 0.9 * limitPerSecond
      },
      {
        label: `${scenario.name}: share of the configured limit (naive sender: ${Math.round((100 * naiveRate) / limitPerSecond)}%)`,
        value: (100 * rate) / limitPerSecond,
        unit: "%",
        baseline: { label: "configured limit, alerts/s", value: limitPerSecond },
        ratio: rate / limitPerSecond,
        ...judge(targets.discordShareOfLimit, rate, rate / limitPerSecond)
      },
      {
        label: `${scenario.name}: wall time for the burst`,
        value: ours.seconds,
        unit: "s",
        baseline: { label: "naive sender (finishes early by giving up)", value: old.seconds }
      },
      {
        label: `${scenario.name}: alerts lost`,
        value: ours.lost,
        unit: `of ${scenario.alerts}`,
        baseline: { label: "naive sender", value: old.lost },
        ...judge(targets.discordLost, ours.lost, ours.lost / scenario.alerts)
      },
      {
        label: `${scenario.name}: 429 responses`,
        value: ours.rateLimited,
        unit: "responses",
        baseline: { label: "naive sender", value: old.rateLimited }
      }
    )
  }
  // A burst of 20 on Discord's 5 per 2 s: sharing messages versus one message per alert.
  const burst = scenarios[1]!
  const burstRun = (packed: boolean) =>
    Effect.runPromise(headerDriven(burst, packed).pipe(Logger.withMinimumLogLevel(LogLevel.Error)))
  const packed = await burstRun(true)
  const unpacked = await burstRun(false)
  figures.push(
    {
      label: `${burst.name}: time until the last alert is on Discord, packed`,
      value: packed.lastOnDiscord,
      unit: "s",
      baseline: { label: "one message per alert", value: unpacked.lastOnDiscord },
      ratio: unpacked.lastOnDiscord / packed.lastOnDiscord,
      target: "≤ 4 s",
      pass: packed.lastOnDiscord <= 4 && packed.lost === 0
    },
    {
      label: `${burst.name}: messages for 20 alerts, packed`,
      value: packed.delivered,
      unit: "messages",
      baseline: { label: "one message per alert", value: unpacked.delivered },
      ratio: unpacked.delivered / packed.delivered
    }
  )
  return { name: "discord", figures }
}

/**
 * bench:check's quick mode: a burst of 20 at Discord's 5 per 2 s, three rounds; the median rate, the worst loss. Long
 * windows, so that sends slowed by a busy machine are a small part of the span the rate is measured over.
 */
export const quick = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  const scenario: Scenario = { name: "burst 20, Discord's 5 per 2 s", alerts: 20, limit: 5, windowMs: 2_000 }
  const outcomes: Array<Outcome> = []
  for (let round = 0; round < 3; round++) {
    outcomes.push(await Effect.runPromise(headerDriven(scenario).pipe(Logger.withMinimumLogLevel(LogLevel.Error))))
  }
  const rate = median(outcomes.map((outcome) => outcome.steadyRate))
  const limitPerSecond = (scenario.limit * 1000) / scenario.windowMs
  const lost = Math.max(...outcomes.map((outcome) => outcome.lost))
  return [
    {
      label: `discord: ${scenario.name}, share of the limit`,
      ratio: rate / limitPerSecond,
      target: targets.discordShareOfLimit,
      detail: `${rate.toFixed(2)} of ${limitPerSecond} alerts/s`
    },
    {
      label: `discord: ${scenario.name}, alerts lost`,
      ratio: lost / scenario.alerts,
      target: targets.discordLost,
      detail: `worst round lost ${lost} of ${scenario.alerts}`
    }
  ]
}

if (isMain(import.meta.url)) publish(await run())
