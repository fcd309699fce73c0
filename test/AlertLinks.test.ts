import { describe, expect, it } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import { Effect, Layer } from "effect"
import {
  AlertLinks,
  correctedTitle,
  isCorrection,
  type LinkWindows,
  linkedItemOf,
  matchEarlier,
  withLinked
} from "../src/Delivery/AlertLinks.js"
import { renderCard, renderFollowUp } from "../src/Delivery/AlertSink/Stdout.js"
import { alertMessage, Limits } from "../src/Delivery/Discord/Embed.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import type { Alert, NormalizedItem, SecFiling } from "../src/Kernel/Domain.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { makeAlert, newsItem } from "./support/Alerts.js"
import { databaseConfig, databases, type DatabaseKind } from "./support/Databases.js"

const windows: LinkWindows = { eventMs: 30 * 60_000, updateMs: 24 * 3_600_000 }
const now = Date.parse("2026-12-02T15:00:00Z")
const minutesAgo = (minutes: number) => now - minutes * 60_000

const filing = (formType: string, items: ReadonlyArray<string>, accession = "0001-26-000001"): SecFiling => ({
  formType,
  cik: "0000123456",
  accession,
  items,
  companyName: "ACME CORP"
})

const release = newsItem("https://wire.example/acme-contract", "Acme Wins $45 Million Defense Contract")
const eightK = newsItem("sec:0001-26-000001", "8-K: ACME CORP — Items 1.01, 9.01", filing("8-K", ["1.01", "9.01"]))
const earlier = (item: NormalizedItem, minutes = 5, alert: Alert = makeAlert(item)) => ({
  alert,
  decidedAt: minutesAgo(minutes)
})

describe("which later item belongs to an earlier alert", () => {
  it("a wire story and its 8-K are one event, either way round, within the window", () => {
    expect(matchEarlier(eightK, earlier(release), now, windows)).toMatchObject({ relation: "filing" })
    expect(matchEarlier(release, earlier(eightK), now, windows)).toMatchObject({ relation: "press-release" })
    expect(matchEarlier(eightK, earlier(release, 31), now, windows)).toBeNull()
    expect(matchEarlier(eightK, earlier(release), now, { ...windows, eventMs: 0 })).toBeNull()
  })

  it("only filings that come with a press release, for the same ticker, one of each per alert", () => {
    const sharesOnly = newsItem("sec:2", "8-K: ACME CORP — Item 5.07", filing("8-K", ["5.07"], "2"))
    expect(matchEarlier(sharesOnly, earlier(release), now, windows)).toBeNull()
    const sixK = newsItem("sec:3", "6-K: ACME CORP", filing("6-K", [], "3"))
    expect(matchEarlier(sixK, earlier(release), now, windows)).toMatchObject({ relation: "filing" })
    const prospectus = newsItem("sec:4", "424B5: ACME CORP", filing("424B5", [], "4"))
    expect(matchEarlier(prospectus, earlier(release), now, windows)).toBeNull()
    const elsewhere = { ...eightK, tickers: [{ symbol: "OTHR", exchange: "NASDAQ" }] }
    expect(matchEarlier(elsewhere, earlier(release), now, windows)).toBeNull()
    const alreadyFiled = withLinked(makeAlert(release), linkedItemOf(eightK, "filing", "2026-12-02T14:56:00Z"))
    const secondEightK = { ...eightK, id: "sec:5" }
    expect(matchEarlier(secondEightK, earlier(release, 5, alreadyFiled), now, windows)).toBeNull()
    // Two wire stories are never one event by this rule (the story check handles the same story twice).
    expect(matchEarlier({ ...release, id: "other" }, earlier(release), now, windows)).toBeNull()
  })

  it("an 8-K/A updates the 8-K of the same CIK, also when that 8-K was edited into a press release's alert", () => {
    const amendment = newsItem("sec:9", "8-K/A: ACME CORP — Items 1.01, 9.01", filing("8-K/A", ["1.01", "9.01"], "9"))
    expect(matchEarlier(amendment, earlier(eightK, 600), now, windows)).toMatchObject({
      relation: "update",
      why: "8-K/A amends its 8-K"
    })
    const filed = withLinked(makeAlert(release), linkedItemOf(eightK, "filing", "2026-12-02T14:56:00Z"))
    expect(matchEarlier(amendment, earlier(release, 600, filed), now, windows)).toMatchObject({ relation: "update" })
    const otherCik = { ...amendment, sec: { ...amendment.sec!, cik: "0000999999" } }
    expect(matchEarlier(otherCik, earlier(eightK), now, windows)).toBeNull()
    expect(matchEarlier(amendment, earlier(eightK, 25 * 60), now, windows)).toBeNull()
  })

  it("a wire correction updates the story it corrects, by headline or URL; a new headline is not a correction", () => {
    expect(isCorrection("CORRECTING and REPLACING -- Acme Wins $45 Million Defense Contract")).toBe(true)
    expect(isCorrection("CORRECTION – Acme Wins $45 Million Defense Contract")).toBe(true)
    expect(isCorrection("UPDATE - Acme Wins $45 Million Defense Contract")).toBe(true)
    expect(isCorrection("Acme Provides Updated Guidance for 2027")).toBe(false)
    expect(isCorrection("Update on Acme's Phase 2 Trial")).toBe(false)
    expect(correctedTitle("CORRECTING and REPLACING -- Acme Wins Contract")).toBe("Acme Wins Contract")

    const correction = newsItem("c1", "CORRECTING and REPLACING -- Acme Wins $45 Million Defense Contract")
    expect(matchEarlier(correction, earlier(release, 120), now, windows)).toMatchObject({ relation: "update" })
    const sameUrl = newsItem("c2", "CORRECTION: Acme Awarded Pentagon Deal")
    expect(matchEarlier({ ...sameUrl, link: release.link }, earlier(release), now, windows)).toMatchObject({
      relation: "update"
    })
    const unrelated = newsItem("c3", "CORRECTION – Acme Announces FDA Approval")
    expect(matchEarlier(unrelated, earlier(release), now, windows)).toBeNull()
    expect(matchEarlier(correction, earlier(release), now, { ...windows, updateMs: 0 })).toBeNull()
  })
})

describe("how an alert shows what was edited into it", () => {
  const filed = withLinked(makeAlert(release), linkedItemOf(eightK, "filing", "2026-12-02T14:56:00Z"))

  it("Discord: an 'Also filed' field linked to the filing; an update marks the title; feed text stays escaped", () => {
    const fields = alertMessage(filed, { _tag: "NoBars" }).payload.embeds![0]!.fields!
    expect(fields).toContainEqual({ name: "📄 Also filed", value: `[8-K Items 1.01, 9.01](${eightK.link})` })
    const sneaky = newsItem("c9", "CORRECTION: **Acme** [click](https://evil.example) @everyone")
    const updated = withLinked(filed, linkedItemOf(sneaky, "update", "2026-12-02T15:00:00Z"))
    const message = alertMessage(updated, { _tag: "NoBars" })
    const embed = message.payload.embeds![0]!
    expect(embed.title).toMatch(/^🔄 Updated · ACME/)
    expect(embed.fields).toContainEqual({
      name: "✏️ Updated",
      value: `[CORRECTION: \\*\\*Acme\\*\\* \\[click\\](https\\://evil.example) @everyone](${sneaky.link})`
    })
    expect(message.payload.allowed_mentions).toEqual({ parse: [] })
  })

  it("Discord: within the field limit, whatever the headline's length", () => {
    const long = newsItem("long", "A".repeat(3_000))
    const message = alertMessage(withLinked(filed, linkedItemOf(long, "press-release", "x")), { _tag: "NoBars" })
    for (const field of message.payload.embeds![0]!.fields!) {
      expect(field.value.length).toBeLessThanOrEqual(Limits.fieldValue)
    }
  })

  it("stdout: the card and the follow-up line name the filing and its link", () => {
    expect(renderCard(filed)).toContain(`also filed 8-K Items 1.01, 9.01 · ${eightK.link}`)
    expect(renderFollowUp(filed, { _tag: "NoBars" })).toContain(`also filed 8-K Items 1.01, 9.01 · ${eightK.link}`)
  })
})

const linksLive = (kind: DatabaseKind) =>
  Layer.mergeAll(AlertLinks.Default, Outbox.Default, SqlLive).pipe(
    Layer.provideMerge(databaseConfig(kind, { EVENT_WINDOW_MINUTES: 30 }))
  )

const editRows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ outbox_id: number; reason: string }>`SELECT outbox_id, reason FROM outbox_edits ORDER BY id`
)

describe.each(databases)("AlertLinks.attach on %s", (kind) => {
  const LinksLive = linksLive(kind)

  it.scoped("a queued first alert takes the second into its payload, with no edit; a delivered one gets an edit", () =>
    Effect.gen(function* () {
      const links = yield* AlertLinks
      const outbox = yield* Outbox
      yield* outbox.enqueue([makeAlert(release)])
      const first = yield* links.attach([makeAlert(eightK)])
      expect(first.queue).toEqual([])
      expect(first.linked).toEqual([
        { itemId: eightK.id, reason: `alerted as an edit of GlobeNewswire item ${release.id}: its 8-K` }
      ])
      const [row] = yield* outbox.rowsForItem(release.id)
      expect(row!.alert.linked?.map((linked) => linked.itemId)).toEqual([eightK.id])
      expect(yield* editRows).toEqual([])

      yield* outbox.markDelivered(row!.id, "m1")
      const story = newsItem("c1", `CORRECTING and REPLACING -- ${release.title}`)
      yield* links.attach([makeAlert(story)])
      expect(yield* editRows).toEqual([{ outbox_id: row!.id, reason: "update" }])
      const [after] = yield* outbox.rowsForItem(release.id)
      expect(after!.alert.linked?.map((linked) => linked.relation)).toEqual(["filing", "update"])
    }).pipe(Effect.provide(LinksLive))
  )

  it.scoped("a story and its 8-K in the same cycle: one alert carrying both", () =>
    Effect.gen(function* () {
      const { queue, linked } = yield* (yield* AlertLinks).attach([makeAlert(release), makeAlert(eightK)])
      expect(queue).toHaveLength(1)
      expect(queue[0]!.linked?.map((entry) => entry.itemId)).toEqual([eightK.id])
      expect(linked.map((entry) => entry.itemId)).toEqual([eightK.id])
    }).pipe(Effect.provide(LinksLive))
  )

  it.live("two cycles committing items of one event at once: one alert, carrying the other", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const links = yield* AlertLinks
      const outbox = yield* Outbox
      // As Cycle does: link and enqueue in one transaction; the pause lets the other read in between.
      const commit = (alert: Alert) =>
        sql.withTransaction(
          Effect.gen(function* () {
            const { queue } = yield* links.attach([alert])
            yield* Effect.sleep("200 millis")
            yield* outbox.enqueue(queue)
          })
        )
      yield* Effect.all([commit(makeAlert(release)), commit(makeAlert(eightK))], { concurrency: "unbounded" })
      const rows = [...(yield* outbox.rowsForItem(release.id)), ...(yield* outbox.rowsForItem(eightK.id))]
      expect(rows).toHaveLength(1)
      const other = rows[0]!.alert.item.id === release.id ? eightK.id : release.id
      expect(rows[0]!.alert.linked?.map((linked) => linked.itemId)).toEqual([other])
    }).pipe(Effect.provide(LinksLive))
  )
})
