import { NodeHttpClient } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { parseRoutes, routesFor } from "../src/Delivery/Routes.js"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { Alert, ChartOutcome } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { makeFakeDiscord } from "../src/World/FakeDiscord.js"
import { alertFixture, classificationFixture } from "../test/support/Alerts.js"
import { type BenchReport, type Figure, isMain, publish } from "./lib.js"
import { judge, targets } from "./targets.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

/**
 * Fan-out: 200 alerts to 5 routes, each on its own webhook at Discord's documented 5 requests per 2 s, through the
 * real outbox, delivery fiber, header-driven limiter and packing. Throughput counts messages: after each webhook's
 * first window (its free burst), messages per second against the 5 webhooks' combined message limit (packing puts
 * several alerts in one message, so alerts/s would exceed it). Then the routing decision alone, 50 routes.
 */
const routeCount = 5
const alerts = 200
const limit = 5
const windowMs = 2_000

const alertAt = (n: number): Alert =>
  alertFixture(n, {
    classification: classificationFixture({ categories: ["contract"], score: 1 + (n % 4), sentiment: 0.4 })
  })

const fanOut = Effect.gen(function* () {
  const fake = yield* makeFakeDiscord({ limit, windowMs })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "bench-routes-"))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )
  const webhookIds = Array.from({ length: routeCount }, (_, i) => `10000000000000000${i + 1}`)
  const routesFile = join(dir, "routes.json")
  writeFileSync(
    routesFile,
    JSON.stringify({ routes: webhookIds.map((id, i) => ({ name: `route-${i + 1}`, webhook: fake.webhookUrl(id) })) })
  )
  const config = Layer.setConfigProvider(
    ConfigProvider.fromMap(
      new Map([
        ["DATA_DIR", dir],
        ["ROUTES_FILE", routesFile],
        ["ALERTS_PER_TICKER_PER_MINUTE", "0"]
      ])
    )
  )
  const layer = Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(DiscordSink.routedLayer),
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        ChartRenderer.Test({ forAlert: () => Effect.succeed<ChartOutcome>({ _tag: "NoBars" }) }),
        AdminChannel.Default,
        AdminQueue.Default,
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
    yield* outbox.enqueue(Array.from({ length: alerts }, (_, i) => alertAt(i + 1)))
    const report = yield* delivery.awaitSettled(0, Duration.minutes(2))
    const times = fake.messages.map((message) => message.at).sort((a, b) => a - b)
    const embeds = fake.messages.reduce(
      (sum, message) => sum + ((message.payload["embeds"] as Array<unknown>)?.length ?? 0),
      0
    )
    const burst = routeCount * limit
    const steady = times.length > burst ? ((times.length - burst) * 1000) / (times[times.length - 1]! - times[0]!) : 0
    // Per webhook, the least time Discord's limit allows for its messages (a full window for every
    // `limit` of them after the first window), against the time they took: a last window that is only
    // partly filled costs nothing here, as it doesn't in Discord's eyes.
    const byWebhook = new Map<string, Array<number>>()
    for (const message of fake.messages)
      byWebhook.set(message.webhookId, [...(byWebhook.get(message.webhookId) ?? []), message.at])
    let fastest = 0
    let taken = 0
    for (const sent of byWebhook.values()) {
      fastest += (Math.ceil(sent.length / limit) - 1) * windowMs
      taken += Math.max(...sent) - Math.min(...sent)
    }
    return {
      delivered: report.delivered,
      embeds,
      messages: fake.messages.length,
      steady,
      pace: taken === 0 ? 0 : fastest / taken,
      rateLimited: fake.requests.filter((request) => request.status === 429).length
    }
  }).pipe(Effect.provide(layer))
}).pipe(Effect.scoped)

/** Decisions per second of `routesFor` over a fixed set of alerts, best of a few rounds. */
const decisionsPerSecond = (routes: Parameters<typeof routesFor>[0], sample: ReadonlyArray<Alert>) => {
  let best = 0
  let matched = 0
  for (let round = 0; round < 5; round++) {
    const started = performance.now()
    for (let i = 0; i < 20; i++) for (const alert of sample) matched += routesFor(routes, alert).length
    const seconds = (performance.now() - started) / 1000
    best = Math.max(best, (20 * sample.length) / seconds)
  }
  return { perSecond: best, matchesPerAlert: matched / (100 * sample.length) }
}

const routeSet = (count: number) => {
  const entries = Array.from({ length: count }, (_, i) => ({
    name: `route-${i}`,
    webhook: `https://discord.com/api/webhooks/1/${i}`,
    match:
      i % 5 === 0
        ? { categories: ["contract"], min_score: i % 4 }
        : i % 5 === 1
          ? { sentiment: "positive", price: { min: 1, max: 20 } }
          : i % 5 === 2
            ? { kinds: ["wire"], sessions: ["pre", "regular"] }
            : i % 5 === 3
              ? { tickers: [`T${i}`, `U${i}`, "ACME"] }
              : { sources: ["businesswire", "globenewswire"], market_cap: { max: 2_000_000_000 } }
  }))
  const parsed = parseRoutes("bench", JSON.stringify({ routes: entries }), new Set(["contract"]))
  if (Either.isLeft(parsed)) throw new Error(parsed.left.join("\n"))
  return parsed.right
}

export const run = async (): Promise<BenchReport> => {
  const outcome = await Effect.runPromise(fanOut.pipe(Logger.withMinimumLogLevel(LogLevel.Error)))
  const messageLimit = (routeCount * limit * 1000) / windowMs
  const sample = Array.from({ length: 1_000 }, (_, i) => alertAt(i))
  const fifty = decisionsPerSecond(routeSet(50), sample)
  const one = decisionsPerSecond(routeSet(1), sample)
  const figures: Array<Figure> = [
    {
      label: `fan-out ${alerts} alerts × ${routeCount} routes: sustained messages/s on ${routeCount} webhooks (${outcome.embeds} alerts in ${outcome.messages} messages); ratio = the least time Discord's limit allows each webhook's messages / the time they took`,
      value: outcome.steady,
      unit: "messages/s",
      baseline: { label: `combined limit, ${routeCount} × ${limit} per ${windowMs / 1000} s`, value: messageLimit },
      ratio: outcome.pace,
      ...judge(targets.routesShareOfLimit, outcome.steady, outcome.pace)
    },
    {
      label: `fan-out: alerts delivered`,
      value: outcome.delivered,
      unit: `of ${alerts * routeCount}`,
      ...judge(targets.routesDelivered, outcome.delivered, outcome.delivered / (alerts * routeCount))
    },
    {
      label: `fan-out: 429 responses`,
      value: outcome.rateLimited,
      unit: "responses",
      ...judge(targets.routes429s, outcome.rateLimited, outcome.rateLimited / routeCount)
    },
    {
      label: `routing decision, 50 routes (${fifty.matchesPerAlert.toFixed(1)} matches per alert)`,
      value: fifty.perSecond,
      unit: "alerts/s",
      baseline: { label: "the same alerts against 1 route", value: one.perSecond },
      ratio: fifty.perSecond / one.perSecond,
      ...judge(targets.routingDecision, fifty.perSecond)
    }
  ]
  return { name: "routes", figures }
}

if (isMain(import.meta.url)) publish(await run())
