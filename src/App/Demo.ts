import { Console, Data, Duration, Effect, Fiber, Layer, Logger, LogLevel, Metric, MetricState, Schedule } from "effect"
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { percentiles } from "../Kernel/AlertLatency.js"
import { itemsAlerted, itemsDuplicate, itemsFetched, itemsNew } from "../Runner/Cycle.js"
import { cycleDuration } from "../Runner/Runner.js"
import type { ReceivedMessage } from "../World/FakeDiscord.js"
import * as World from "../World/World.js"
import { Bot, withConfig } from "./Layers.js"

/**
 * `catalyst-bot demo`: the simulated world on 127.0.0.1, the real bot against it, and a short script
 * of market moments. Every alert Discord receives is shown as one line and written to `demo-output/`
 * (embed JSON and chart PNGs); a summary closes the run.
 */

export interface DemoOptions {
  /** Where alerts are written: a new or empty folder, or one an earlier demo wrote (see `prepareOutput`). */
  readonly outputDir: string
  /** Seconds between cycles. */
  readonly pollSeconds: number
  /** Longest wait for the last alerts to be delivered. */
  readonly drainTimeout: Duration.DurationInput
}

export interface DemoSummary {
  readonly cycles: number
  readonly fetched: number
  readonly fresh: number
  readonly duplicates: number
  readonly alerted: number
  readonly delivered: number
  readonly withChart: number
  readonly adminNotices: number
  /** Seconds from publication to delivery. */
  readonly latency: { readonly p50: number; readonly p95: number } | null
}

interface Phase {
  readonly title: string
  readonly scenarios: ReadonlyArray<World.ScenarioName>
  readonly act: (world: World.World) => void
}

const phases: ReadonlyArray<Phase> = [
  {
    title: "Pre-market: the first releases of the day",
    scenarios: ["normal"],
    act: (world) => {
      world.publishNews(8)
      const [company] = World.companies.slice(-1)
      // Yesterday's story, still in a feed: dropped as stale.
      world.publish([
        { company: company!, kind: "fda_approval", wires: ["AccessWire"], publishedAt: Date.now() - 6 * 3_600_000 }
      ])
    }
  },
  { title: "News burst", scenarios: ["newsBurst"], act: () => {} },
  {
    title: "Bad morning: a wire, SEC, the LLM and the quote API are down",
    scenarios: ["feedOutage", "llmDown", "priceApiDown"],
    act: (world) => void world.publishNews(4)
  },
  {
    title: "Everything is back; Discord throws a 429 storm",
    scenarios: ["normal", "discord429Storm"],
    act: (world) => void world.publishNews(4)
  },
  { title: "Quiet market", scenarios: ["quietDay"], act: () => {} }
]

const poll = Schedule.spaced(Duration.millis(100))

const counter = (metric: Metric.Metric.Counter<number>) =>
  Effect.map(Metric.value(metric), (state) => (MetricState.isCounterState(state) ? Number(state.count) : 0))

const completedCycles = Effect.map(Metric.value(cycleDuration), (state) =>
  MetricState.isHistogramState(state) ? state.count : 0
)

const field = (message: ReceivedMessage, name: string): string | undefined => {
  const [embed] = (message.payload["embeds"] ?? []) as ReadonlyArray<{
    readonly fields?: ReadonlyArray<{ readonly name: string; readonly value: string }>
  }>
  return embed?.fields?.find((entry) => entry.name === name)?.value
}

const embedOf = (message: ReceivedMessage) =>
  ((
    (message.payload["embeds"] ?? []) as ReadonlyArray<{ title?: string; timestamp?: string; description?: string }>
  )[0] ?? {}) as { title?: string; timestamp?: string; description?: string }

/** One readable line per alert: ticker and headline, price, score and what became of the chart. */
export const describeAlert = (message: ReceivedMessage): string => {
  const title = embedOf(message).title ?? "(no title)"
  const chart = message.files[0]
  const price = field(message, "Price") ?? "—"
  const change = field(message, "Change")
  const market = change === undefined ? price : `${price} ${change}`
  const chartNote =
    chart !== undefined
      ? `chart ${chart.filename} (${Math.round(chart.size / 1024)} KB)`
      : field(message, "Chart") !== undefined
        ? "chart failed"
        : "no chart (no bars)"
  return `${title.length > 90 ? `${title.slice(0, 89)}…` : title} | ${market} | score ${field(message, "Score") ?? "?"} | ${chartNote}`
}

export class DemoOutputError extends Data.TaggedError("DemoOutputError")<{ readonly message: string }> {}

/** Left in every output folder, so a later demo knows the folder is its own. */
export const demoMarker = ".catalyst-bot-demo"
/** The names `writeAlert` gives: `NNN-TICKER.json` and `NNN-<chart>.png`. */
const demoFile = /^\d{3}-.+\.(?:json|png)$/

/**
 * Makes `dir` ready for a demo without deleting anything the demo didn't write: a new or empty
 * folder is used as is; a folder marked by an earlier demo loses only that demo's alert files; any
 * other non-empty folder is refused (`--output .` in a checkout must never empty it).
 */
export const prepareOutput = (dir: string) =>
  Effect.try({
    try: () => {
      const entries = existsSync(dir) ? readdirSync(dir) : []
      if (entries.length > 0 && !entries.includes(demoMarker)) return false
      mkdirSync(dir, { recursive: true })
      for (const name of entries) if (demoFile.test(name)) rmSync(join(dir, name), { force: true })
      writeFileSync(
        join(dir, demoMarker),
        "Written by `catalyst-bot demo`; its alert files here are replaced by the next demo.\n"
      )
      return true
    },
    catch: (cause) => new DemoOutputError({ message: `demo output folder ${dir} can't be prepared: ${String(cause)}` })
  }).pipe(
    Effect.filterOrFail(
      (ready) => ready,
      () =>
        new DemoOutputError({
          message: `${dir} is not empty and was not written by an earlier demo; pass --output with a new or empty folder`
        })
    ),
    Effect.asVoid
  )

/** Writes the embed JSON and any attached PNGs of the `index`-th alert. */
const writeAlert = (outputDir: string, index: number, message: ReceivedMessage) => {
  const symbol = /^(?:⚠️ NEGATIVE · )?([A-Z.-]+)/.exec(embedOf(message).title ?? "")?.[1] ?? "ALERT"
  const stem = `${String(index).padStart(3, "0")}-${symbol}`
  writeFileSync(join(outputDir, `${stem}.json`), JSON.stringify(message.payload, null, 2) + "\n")
  for (const file of message.files) {
    if (file.data !== undefined)
      writeFileSync(join(outputDir, `${String(index).padStart(3, "0")}-${file.filename}`), file.data)
  }
}

const latencySeconds = (message: ReceivedMessage): number | null => {
  const published = Date.parse(embedOf(message).timestamp ?? "")
  return Number.isNaN(published) ? null : Math.max(0, (message.at - published) / 1000)
}

/** The whole bot, as `run` builds it, configured only by the world: no .env, no keys, no internet. */
const launchBot = (env: Record<string, string>) =>
  Layer.launch(Bot.pipe(withConfig(env))).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

export const runDemo = (options: DemoOptions): Effect.Effect<DemoSummary, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const outputDir = resolve(options.outputDir)
      yield* prepareOutput(outputDir)
      const world = yield* World.make({ discord: { keepFileData: true, limit: 5, windowMs: 1_000 } })
      const startedAt = Date.now()
      const elapsed = () => `+${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s`

      const before = {
        fetched: yield* counter(itemsFetched),
        fresh: yield* counter(itemsNew),
        duplicates: yield* counter(itemsDuplicate),
        alerted: yield* counter(itemsAlerted),
        cycles: yield* completedCycles
      }
      const since = <A extends keyof typeof before>(key: A, now: number) => now - before[key]

      yield* Console.log(
        `Simulated market on 127.0.0.1: ${World.wireNames.join(", ")}, SEC EDGAR, an OpenAI-compatible LLM and a Discord webhook.\n` +
          `Alerts are written to ${outputDir}\n`
      )

      let shownAlerts = 0
      let shownNotices = 0
      const show = Effect.gen(function* () {
        const alerts = world.alerts()
        while (shownAlerts < alerts.length) {
          const message = alerts[shownAlerts]!
          shownAlerts += 1
          writeAlert(outputDir, shownAlerts, message)
          yield* Console.log(`  ${elapsed()}  🔔 ${describeAlert(message)}`)
        }
        const notices = world.adminNotices()
        while (shownNotices < notices.length) {
          const embed = embedOf(notices[shownNotices]!)
          shownNotices += 1
          yield* Console.log(
            `  ${elapsed()}  🛠  admin: ${embed.title ?? ""}${embed.description ? ` — ${embed.description.split("\n")[0]}` : ""}`
          )
        }
      })
      const watcher = yield* Effect.forkScoped(
        Effect.forever(Effect.zipRight(show, Effect.sleep(Duration.millis(100))))
      )

      const env: Record<string, string> = {
        ...world.env,
        POLL_SECONDS: String(options.pollSeconds),
        POLL_SECONDS_CLOSED: String(options.pollSeconds),
        SEC_POLL_SECONDS: String(options.pollSeconds),
        FEED_RETRIES: "1",
        FEED_RETRY_BASE_MS: "100",
        FEED_TIMEOUT_SECONDS: "3",
        LLM_TIMEOUT_SECONDS: "3",
        LLM_RETRIES: "1",
        DELIVERY_RETRY_BASE_SECONDS: "0.5",
        ALERTS_STDOUT_FORMAT: "json"
      }

      /** Waits for a whole cycle that started after now: the first wire request after now opens it. */
      const awaitFreshCycle = Effect.gen(function* () {
        const from = Date.now()
        const wireAsked = () => world.wire.requests().some((request) => request.at >= from)
        yield* Effect.repeat(Effect.sync(wireAsked), { until: (asked) => asked, schedule: poll })
        const running = yield* completedCycles
        yield* Effect.repeat(completedCycles, { until: (done) => done > running, schedule: poll })
      })
      /** Waits until Discord has every alert enqueued so far, or the drain timeout. */
      const awaitDelivery = Effect.gen(function* () {
        const alerted = since("alerted", yield* counter(itemsAlerted))
        yield* Effect.repeat(
          Effect.sync(() => world.alerts().length),
          {
            until: (delivered) => delivered >= alerted,
            schedule: poll
          }
        ).pipe(Effect.timeout(options.drainTimeout), Effect.ignore)
        yield* show
      })

      let bot: Fiber.RuntimeFiber<never, unknown> | undefined
      for (const phase of phases) {
        const troubles = phase.scenarios.filter((name) => name !== "normal")
        yield* Console.log(
          `\n── ${phase.title} (${troubles.map((name) => World.scenarioDescriptions[name]).join("; ") || World.scenarioDescriptions.normal})`
        )
        for (const name of phase.scenarios) yield* world.scenario(name)
        phase.act(world)
        if (bot === undefined) bot = yield* Effect.forkScoped(launchBot(env))
        yield* awaitFreshCycle
        yield* awaitDelivery
      }
      const alerted = since("alerted", yield* counter(itemsAlerted))
      yield* show
      if (bot !== undefined) yield* Fiber.interrupt(bot)
      yield* Fiber.interrupt(watcher)

      const alerts = world.alerts()
      const latency = percentiles(alerts.flatMap((message) => latencySeconds(message) ?? []))
      const summary: DemoSummary = {
        cycles: since("cycles", yield* completedCycles),
        fetched: since("fetched", yield* counter(itemsFetched)),
        fresh: since("fresh", yield* counter(itemsNew)),
        duplicates: since("duplicates", yield* counter(itemsDuplicate)),
        alerted,
        delivered: alerts.length,
        withChart: alerts.filter((message) => message.files.length > 0).length,
        adminNotices: world.adminNotices().length,
        latency: latency === null ? null : { p50: latency.p50, p95: latency.p95 }
      }
      yield* Console.log(
        [
          "",
          "── Summary",
          `  cycles            ${summary.cycles}`,
          `  items fetched     ${summary.fetched}`,
          `  new (unseen)      ${summary.fresh}`,
          `  deduplicated      ${summary.duplicates}`,
          `  alerted           ${summary.alerted}`,
          `  delivered         ${summary.delivered} (${summary.withChart} with a chart)`,
          `  admin notices     ${summary.adminNotices}`,
          `  latency           ${
            summary.latency === null
              ? "—"
              : `p50 ${summary.latency.p50.toFixed(1)} s, p95 ${summary.latency.p95.toFixed(1)} s (publication → Discord)`
          }`,
          `  output            ${outputDir}`
        ].join("\n")
      )
      return summary
    })
  )
