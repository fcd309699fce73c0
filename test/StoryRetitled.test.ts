import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Classifier } from "../src/Classification/Classifier.js"
import { AlertLinks } from "../src/Delivery/AlertLinks.js"
import { alertMessage } from "../src/Delivery/Discord/Embed.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { FeedIngest } from "../src/Feeds/FeedIngest.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { NormalizedItem } from "../src/Kernel/Domain.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { MarketData } from "../src/MarketData/MarketData.js"
import { ItemArchive } from "../src/Outcomes/ItemArchive.js"
import { Cycle } from "../src/Runner/Cycle.js"
import { SeenStore } from "../src/Storage/SeenStore.js"
import { classifiedFixture, itemFixture } from "./support/Alerts.js"
import { tempDataConfig } from "./support/TestLayers.js"

const url = "https://wire.example/acme-guidance"
const story = (title: string): NormalizedItem =>
  itemFixture(url, { title, link: url, tickers: [{ symbol: "ACME", exchange: "NASDAQ" }] })

/** Two routes that both take every alert: each gets its own outbox row of the story. */
const routesFile = () => {
  const path = join(mkdtempSync(join(tmpdir(), "routes-")), "routes.json")
  writeFileSync(
    path,
    JSON.stringify({
      routes: [
        { name: "trading", webhook: "https://discord.example/api/webhooks/1/a" },
        { name: "firehose", webhook: "https://discord.example/api/webhooks/2/b" }
      ]
    })
  )
  return path
}

/** A cycle whose one wire feed serves `served.item` each poll. */
const cycleLayer = (served: { item: NormalizedItem }) =>
  Cycle.DefaultWithoutDependencies.pipe(
    Layer.provide(
      Layer.mergeAll(
        FeedIngest.Test({ fetchAll: Effect.sync(() => ({ reports: [], items: [served.item], stale: [] })) }),
        Classifier.Test({
          classifyBatch: (items: ReadonlyArray<NormalizedItem>) =>
            Effect.succeed({ items: items.map((item) => classifiedFixture(item)), notes: [] })
        }),
        MarketData.Test({
          enrich: (items) =>
            Effect.succeed(items.map((entry) => ({ ...entry, market: { _tag: "PriceUnavailable", reason: "test" } })))
        })
      )
    ),
    Layer.provideMerge(
      Layer.mergeAll(
        SeenStore.Default,
        Outbox.Default,
        ItemArchive.Default,
        AlertLinks.Default,
        SqlLive,
        AppConfig.Default
      )
    ),
    Layer.provide(tempDataConfig({ MIN_SCORE: 0, ROUTES_FILE: routesFile() }))
  )

const editRows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ outbox_id: number; reason: string }>`SELECT outbox_id, reason FROM outbox_edits ORDER BY id`
)

describe("the same story under a new headline at the same URL", () => {
  const served = { item: story("Acme Reports Third Quarter Results") }

  it.scoped("edits the posted message on every route and marks it updated, instead of posting again", () =>
    Effect.gen(function* () {
      const cycle = yield* Cycle
      const outbox = yield* Outbox
      const first = yield* cycle.run()
      expect(first.outcomes.map((entry) => entry.outcome)).toEqual(["alerted"])
      const rows = yield* outbox.rowsForItem(url)
      expect(rows).toHaveLength(2)
      for (const row of rows) yield* outbox.markDelivered(row.id, `message-${row.id}`)

      // Served again unchanged: an ordinary duplicate, nothing edited.
      const again = yield* cycle.run()
      expect(again.outcomes.map((entry) => [entry.outcome, entry.reason])).toEqual([["duplicate", "already seen"]])
      expect(yield* editRows).toEqual([])

      served.item = story("Acme Reports Third Quarter Results and Raises Full-Year Guidance")
      const retitled = yield* cycle.run()
      expect(retitled.alerted).toBe(0)
      expect(retitled.outcomes.map((entry) => [entry.outcome, entry.reason])).toEqual([
        ["duplicate", "new headline at the same URL: edited into its alert as an update"]
      ])
      expect(yield* outbox.rowsForItem(url)).toHaveLength(2)
      expect(yield* editRows).toEqual(rows.map((row) => ({ outbox_id: row.id, reason: "update" })))
      for (const row of yield* outbox.rowsForItem(url)) {
        expect(row.alert.linked?.map((linked) => [linked.relation, linked.title])).toEqual([
          ["update", served.item.title]
        ])
        const embed = alertMessage(row.alert, { _tag: "NoBars" }).payload.embeds![0]!
        expect(embed.title).toMatch(/^🔄 Updated · ACME/)
        expect(embed.fields).toContainEqual({
          name: "✏️ Updated",
          value: `[${served.item.title}](${url})`
        })
      }

      // The new headline served again is known now: no second edit.
      yield* cycle.run()
      expect(yield* editRows).toHaveLength(2)
    }).pipe(Effect.provide(cycleLayer(served)))
  )
})
