import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { AdminQueue } from "../src/Kernel/AdminChannel.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { MuteList } from "../src/MarketData/MuteList.js"
import { itemFixture } from "./support/Alerts.js"
import { configLayer } from "./support/TestLayers.js"

const now = Date.UTC(2026, 11, 2, 15)

const write = (path: string, content: unknown, mtime: number) => {
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content))
  utimesSync(path, mtime / 1000, mtime / 1000)
}

const layer = (path: string) =>
  Layer.mergeAll(MuteList.Default, AdminQueue.Default).pipe(
    Layer.provideMerge(AppConfig.Default),
    Layer.provide(configLayer({ DATA_DIR: tmpdir(), MUTE_FILE: path }))
  )

const acme = itemFixture("a", { title: "Acme announces webinar", tickers: [{ symbol: "ACME", exchange: null }] })
const beta = itemFixture("b", { title: "Beta wins contract", tickers: [{ symbol: "BETA", exchange: null }] })
const gamma = itemFixture("c", { title: "Gamma hosts WEBINAR series", tickers: [{ symbol: "GAMA", exchange: null }] })

describe("mute list", () => {
  it.live("drops muted tickers and phrases with the entry as the reason, until each one expires", () =>
    Effect.gen(function* () {
      const path = join(mkdtempSync(join(tmpdir(), "mute-")), "mute.json")
      write(
        path,
        {
          tickers: [{ ticker: "acme", until: new Date(now + 3_600_000).toISOString() }],
          phrases: [{ phrase: "webinar", note: "noise" }]
        },
        now
      )
      const mutes = yield* Effect.provide(MuteList, layer(path))
      const first = yield* mutes.partition([acme, beta, gamma], now)
      expect(first.kept.map((item) => item.id)).toEqual(["b"])
      expect(first.muted.map(({ item, reason }) => [item.id, reason])).toEqual([
        ["a", "muted ticker ACME (MUTE_FILE, until 2026-12-02T16:00:00.000Z)"],
        ["c", 'muted phrase "webinar" (MUTE_FILE)']
      ])
      // An hour later the ticker mute has expired; the phrase still drops Acme's headline.
      const later = yield* mutes.partition([acme, beta], now + 3_600_000)
      expect(later.muted.map(({ reason }) => reason)).toEqual(['muted phrase "webinar" (MUTE_FILE)'])
    })
  )

  it.live("an edit is picked up without a restart; a bad edit keeps the previous list and tells admin", () =>
    Effect.gen(function* () {
      const path = join(mkdtempSync(join(tmpdir(), "mute-")), "mute.json")
      write(path, { tickers: [{ ticker: "BETA" }] }, now)
      yield* Effect.gen(function* () {
        const mutes = yield* MuteList
        expect((yield* mutes.partition([acme, beta], now)).kept.map((item) => item.id)).toEqual(["a"])

        write(path, { tickers: [{ ticker: "ACME" }] }, now + 1_000)
        expect((yield* mutes.partition([acme, beta], now)).kept.map((item) => item.id)).toEqual(["b"])

        write(path, { tickers: [{ ticker: "not a ticker!" }] }, now + 2_000)
        expect((yield* mutes.partition([acme, beta], now)).kept.map((item) => item.id)).toEqual(["b"])
        const notice = yield* (yield* AdminQueue).take.pipe(Effect.timeout(Duration.seconds(2)))
        expect(notice).toMatchObject({ _tag: "Notice", event: { title: "MUTE_FILE edit not applied" } })
        expect(notice._tag === "Notice" && notice.event.detail).toMatch(/mute\.json: tickers\[0\], field ticker: /)
      }).pipe(Effect.provide(layer(path)))
    })
  )
})
