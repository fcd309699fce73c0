import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Metric, TestClock } from "effect"
import { AdminChannel, AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AlertLatency } from "../src/Kernel/AlertLatency.js"
import { AlertSink } from "../src/Delivery/AlertSink.js"
import { ChartRenderer } from "../src/Charts/ChartRenderer.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { Delivery } from "../src/Delivery/Delivery.js"
import type { Alert, NormalizedItem } from "../src/Kernel/Domain.js"
import { ErrorTracker } from "../src/Kernel/ErrorTracker.js"
import { type FeedBatch, FeedIngest } from "../src/Feeds/FeedIngest.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { alertsSourceCapped, capBySource, Outbox, roundRobin } from "../src/Delivery/Outbox.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { alertFixture } from "./support/Alerts.js"
import { tempDataConfig } from "./support/TestLayers.js"
import { passThroughStages, testItem } from "./support/TestPipeline.js"
import { DatabaseWatch } from "../src/Kernel/DatabaseWatch.js"

/** Alert `n` (unique id, ticker and headline) as `source` carried it. */
const fromSource = (n: number, source: string, published = "2026-11-28T14:30:00.000Z"): Alert => {
  const alert = alertFixture(n)
  return { ...alert, item: { ...alert.item, id: `${source}-${n}`, source, published } }
}

const NoCharts = ChartRenderer.Test({ forAlert: () => Effect.succeed({ _tag: "NoBars" } as const) })

/** Delivery over the real outbox and a sink that records what it sent and may act after each send. */
const recordingDelivery = (afterSend: (sent: ReadonlyArray<string>) => Effect.Effect<unknown>) => {
  const sent: Array<string> = []
  const sink = AlertSink.Test({
    name: "recording",
    send: (alert, _chart, beforeSend = Effect.void) =>
      Effect.gen(function* () {
        yield* beforeSend
        sent.push(alert.item.id)
        yield* afterSend(sent)
        return { messageId: null }
      })
  })
  const layer = Delivery.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(
      Layer.mergeAll(
        Outbox.Default,
        EditOutbox.Default,
        sink,
        NoCharts,
        AdminChannel.Default,
        ErrorTracker.Default,
        AlertLatency.Default,
        DatabaseWatch.Default
      )
    ),
    Layer.provideMerge(Layer.mergeAll(SqlLive, AppConfig.Default)),
    Layer.provide(tempDataConfig({ ALERTS_PER_TICKER_PER_MINUTE: 0 }))
  )
  return { sent, layer }
}

const storage = (config: Record<string, string | number> = {}) =>
  Layer.mergeAll(Outbox.Default, AdminQueue.Default, SqlLive, AppConfig.Default).pipe(
    Layer.provide(tempDataConfig(config))
  )

describe("Fair delivery across sources", () => {
  it.scoped("a fresh alert from a good feed is among the next two sends behind a 2,000-row backlog of another", () => {
    let outbox: Outbox | undefined
    const fresh = fromSource(1, "GoodWire")
    const { sent, layer } = recordingDelivery((sent) =>
      sent.length === 3 && outbox !== undefined ? outbox.enqueue([fresh]) : Effect.void
    )
    return Effect.gen(function* () {
      outbox = yield* Outbox
      const delivery = yield* Delivery
      const sql = yield* SqlClient.SqlClient
      yield* sql.withTransaction(outbox.enqueue(Array.from({ length: 2_000 }, (_, i) => fromSource(i, "FloodWire"))))
      while (!sent.includes(fresh.item.id) && sent.length < 100) yield* delivery.drainOnce()
      // It arrived during the third send: at most one backlog row (already first in line) goes before it.
      const position = sent.indexOf(fresh.item.id)
      expect(position).toBeGreaterThanOrEqual(3)
      expect(position).toBeLessThanOrEqual(4)
      // The backlog still goes out in its own order.
      expect(sent.filter((id) => id !== fresh.item.id)).toEqual(
        Array.from({ length: sent.length - 1 }, (_, i) => `FloodWire-${i}`)
      )
    }).pipe(Effect.provide(layer))
  })

  it.scoped("due() takes turns between sources, oldest first within each", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox
      yield* outbox.enqueue([1, 2, 3, 4, 5].map((n) => fromSource(n, "A")))
      yield* outbox.enqueue([6, 7].map((n) => fromSource(n, "B")))
      yield* outbox.enqueue([fromSource(8, "C")])
      const due = yield* outbox.due(7)
      expect(due.map((row) => row.alert.item.id)).toEqual(["A-1", "B-6", "C-8", "A-2", "B-7", "A-3", "A-4"])
      expect((yield* outbox.due(1)).map((row) => row.alert.item.id)).toEqual(["A-1"])
    }).pipe(Effect.provide(storage()))
  )

  it.scoped("MAX_ALERTS_PER_CYCLE: one source's deferred backlog doesn't take a fresh alert's room", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox
      const sql = yield* SqlClient.SqlClient
      const cap = { maxPerCycle: 40, overflow: "defer" } as const
      const flood = yield* sql.withTransaction(
        outbox.enqueue(
          Array.from({ length: 500 }, (_, i) => fromSource(i, "FloodWire")),
          cap
        )
      )
      expect(flood.deferred).toHaveLength(460)
      const next = yield* outbox.enqueue([fromSource(1, "GoodWire")], cap)
      expect(next).toEqual({ deferred: [], dropped: [], released: 39 })
      const counts = yield* outbox.counts()
      expect(counts).toMatchObject({ pending: 80, deferred: 421 })
    }).pipe(Effect.provide(storage()))
  )

  it("roundRobin and capBySource keep what they promise", () => {
    expect(roundRobin([[1, 4, 6], [2], [3, 5]], 5, (n) => n)).toEqual([1, 2, 3, 4, 5])
    expect(roundRobin([[], [9]], 3, (n) => n)).toEqual([9])
    const alerts = [
      fromSource(1, "W", "2026-11-28T14:00:00.000Z"),
      fromSource(2, "W", "2026-11-28T14:02:00.000Z"),
      fromSource(3, "W", "2026-11-28T14:01:00.000Z"),
      fromSource(4, "V")
    ]
    const poll = capBySource(alerts, new Map(), { perPoll: 2, perMinute: 0 })
    expect(poll.kept.map((a) => a.item.id)).toEqual(["W-2", "W-3", "V-4"])
    expect(poll.over.map((o) => [o.alert.item.id, o.cap, o.reason])).toEqual([
      ["W-1", "poll", "over SOURCE_MAX_ALERTS_PER_POLL=2 for W"]
    ])
    const minute = capBySource(alerts, new Map([["W", 4]]), { perPoll: 2, perMinute: 5 })
    expect(minute.kept.map((a) => a.item.id)).toEqual(["W-2", "V-4"])
    expect(minute.over.map((o) => o.cap)).toEqual(["minute", "minute"])
    expect(capBySource(alerts, new Map([["W", 99]]), { perPoll: 0, perMinute: 0 }).over).toEqual([])
  })
})

describe("Per-source caps in the cycle", () => {
  let items: ReadonlyArray<NormalizedItem> = []
  const feeds = FeedIngest.Test({
    fetchAll: Effect.sync((): FeedBatch => ({
      reports: [
        { name: "FloodWire", url: "http://127.0.0.1/flood", status: { _tag: "Ok", items: 0, fresh: 0 } },
        { name: "GoodWire", url: "http://127.0.0.1/good", status: { _tag: "Ok", items: 0, fresh: 0 } }
      ],
      items,
      stale: []
    }))
  })
  const story = (source: string, n: number, minutesAgo = 1) =>
    testItem(`${source}-${n}`, {
      source,
      title: `${source} story number ${n}`,
      tickers: [{ symbol: `${source.slice(0, 1)}${n}`, exchange: "NASDAQ" }],
      published: new Date(Date.parse("2026-11-28T15:00:00.000Z") - minutesAgo * 60_000).toISOString()
    })
  const CycleLive = Cycle.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Layer.mergeAll(feeds, passThroughStages)),
    Layer.provideMerge(
      Layer.mergeAll(
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default,
        AdminQueue.Default,
        SqlLive
      )
    ),
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(
      tempDataConfig({ SOURCE_MAX_ALERTS_PER_POLL: 20, SOURCE_MAX_ALERTS_PER_MINUTE: 30, MAX_ALERTS_PER_CYCLE: 0 })
    )
  )
  const capped = (source: string, cap: string) =>
    Metric.value(Metric.tagged(Metric.tagged(alertsSourceCapped, "source", source), "cap", cap)).pipe(
      Effect.map((state) => state.count)
    )

  it.scoped("a feed with 2,000 fresh items enqueues its newest 20; the rest are filtered, counted, told once", () => {
    const logs: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => logs.push(JSON.stringify(message)))
    )
    const notices = () => logs.filter((line) => line.includes("[admin] FloodWire is over its alert cap")).length
    return Effect.gen(function* () {
      const cycle = yield* Cycle
      const outbox = yield* Outbox
      const admin = yield* AdminQueue
      items = [...Array.from({ length: 2_000 }, (_, i) => story("FloodWire", i, 2_000 - i)), story("GoodWire", 1)]
      const first = yield* cycle.run()
      expect(first.alerted).toBe(21)
      const byId = new Map(first.outcomes.map((o) => [o.itemId, o]))
      expect(byId.get("GoodWire-1")?.outcome).toBe("alerted")
      expect(byId.get("FloodWire-1999")?.outcome).toBe("alerted")
      expect(byId.get("FloodWire-1980")?.outcome).toBe("alerted")
      expect(byId.get("FloodWire-1979")).toMatchObject({
        outcome: "filtered",
        reason: "over SOURCE_MAX_ALERTS_PER_POLL=20 for FloodWire (dropped)"
      })
      expect(first.notes).toContain("1980 alert(s) over SOURCE_MAX_ALERTS_PER_POLL=20 for FloodWire dropped")
      expect(yield* capped("FloodWire", "poll")).toBe(1980)
      const notice = yield* admin.take
      expect(notice).toMatchObject({
        _tag: "Notice",
        event: { key: "source-cap:FloodWire", title: "FloodWire is over its alert cap" }
      })

      // Within the same minute the flood only gets what's left of SOURCE_MAX_ALERTS_PER_MINUTE=30; no second notice.
      items = [...Array.from({ length: 50 }, (_, i) => story("FloodWire", 5_000 + i)), story("GoodWire", 2)]
      const second = yield* cycle.run()
      expect(second.alerted).toBe(11)
      expect(yield* capped("FloodWire", "minute")).toBe(40)
      expect(notices()).toBe(1)

      // A minute later the per-poll cap is the limit again, and the good feed was never held back.
      yield* TestClock.adjust("61 seconds")
      items = Array.from({ length: 25 }, (_, i) => story("FloodWire", 9_000 + i))
      expect((yield* cycle.run()).alerted).toBe(20)
      const queued = (yield* outbox.due(100)).map((row) => row.alert.item.source)
      expect(queued.filter((source) => source === "GoodWire")).toHaveLength(2)
      expect(queued.slice(0, 4)).toEqual(["FloodWire", "GoodWire", "FloodWire", "GoodWire"])
      expect(notices()).toBe(1)
    }).pipe(Effect.provide(CycleLive), Effect.provide(capture))
  })
})
