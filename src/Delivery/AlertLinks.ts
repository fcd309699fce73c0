import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, DateTime, Effect, Metric } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { Alert, LinkedItem, NormalizedItem } from "../Kernel/Domain.js"
import { storySignature } from "../Kernel/CanonicalId.js"
import { SqlLive } from "../Kernel/Sql.js"
import { EditOutbox, type EditReason } from "./EditOutbox.js"
import { type AlertRow, Outbox } from "./Outbox.js"

export const alertsLinked = Metric.counter("alerts_linked_total", {
  description: "Items edited into an earlier alert instead of posted, by relation (filing, press-release, update)"
})

/** 8-K and 6-K: the current reports that accompany a company's press release. */
const currentReport = /^(8-K|6-K)$/i
/**
 * 8-K items a press release comes with: results (2.02), Reg FD (7.01), other events (8.01), and
 * exhibits (9.01), where the release itself is filed as EX-99.1.
 * https://www.sec.gov/files/form8-k.pdf
 */
const pressReleaseItems = new Set(["2.02", "7.01", "8.01", "9.01"])

/** A wire correction or update of an earlier release, as the wires headline them. */
const correctionMarker =
  /\bcorrecting\s+(?:and|&)\s+replacing\b|^[\s*]*(?:correction|corrected|update|updated)\s*(?:[-–—:|]|\bto\b)/i
const correctionPrefix =
  /^[\s*]*(?:(?:correcting\s+(?:and|&)\s+replacing|correction|corrected|update|updated)\b(?:\s+to\b)?[\s\-–—:|*]*)+/i

/** Titles this similar (shared words over all words, after `storySignature`) tell the same story. */
export const similarTitles = 0.5

export const titleSimilarity = (a: string, b: string): number => {
  const left = new Set(storySignature(a).split(" ").filter(Boolean))
  const right = new Set(storySignature(b).split(" ").filter(Boolean))
  if (left.size === 0 || right.size === 0) return 0
  const shared = Array.from(left).filter((word) => right.has(word)).length
  return shared / (left.size + right.size - shared)
}

export const isCorrection = (title: string): boolean => correctionMarker.test(title)

/** The headline a correction corrects: its title without the "CORRECTING and REPLACING" marker. */
export const correctedTitle = (title: string): string => title.replace(correctionPrefix, "").trim()

const isAmendment = (item: NormalizedItem) => item.sec !== undefined && /\/A$/i.test(item.sec.formType)

const isWire = (item: NormalizedItem) => item.sec === undefined

/** A current report (8-K, 6-K) that furnishes a press release: a 6-K always, an 8-K by its items. */
export const furnishesPressRelease = (item: NormalizedItem): boolean =>
  item.sec !== undefined &&
  currentReport.test(item.sec.formType) &&
  (/^6-K$/i.test(item.sec.formType) || item.sec.items.some((number) => pressReleaseItems.has(number)))

/** A recent alert a later item may be edited into, and when it was decided (epoch ms). */
export interface EarlierAlert {
  readonly alert: Alert
  readonly decidedAt: number
}

export interface Match {
  readonly relation: LinkedItem["relation"]
  /** Why, for the archive and `once`: the earlier alert is named by the caller. */
  readonly why: string
}

export interface LinkWindows {
  /** EVENT_WINDOW_MINUTES in ms; 0 = off. */
  readonly eventMs: number
  /** ALERT_UPDATE_LOOKBACK_HOURS in ms; 0 = off. */
  readonly updateMs: number
}

const tickersOf = (item: NormalizedItem) => new Set(item.tickers.map((ticker) => ticker.symbol.toUpperCase()))

const hasLinked = (alert: Alert, relation: LinkedItem["relation"]) =>
  (alert.linked ?? []).some((linked) => linked.relation === relation)

/**
 * How `item` relates to `earlier`, if it does. The rules, in order:
 * - an amendment (8-K/A) of a filing of the same CIK and base form in the alert (its own, or one edited in): an update;
 * - a wire correction ("CORRECTING and REPLACING", "CORRECTION –", "UPDATE –") whose headline without the
 *   marker is the alert's (title similarity ≥ 0.5) or at the same URL: an update;
 * - within the event window, same ticker, a wire story and a current report that furnishes a press
 *   release (see `furnishesPressRelease`), when the alert has no item of that kind edited in yet: one event.
 */
export const matchEarlier = (item: NormalizedItem, earlier: EarlierAlert, now: number, windows: LinkWindows) => {
  const first = earlier.alert.item
  const age = now - earlier.decidedAt
  const sameTicker = Array.from(tickersOf(item)).some((ticker) => tickersOf(first).has(ticker))
  if (!sameTicker) return null
  if (windows.updateMs > 0 && age <= windows.updateMs) {
    if (isAmendment(item)) {
      const base = item.sec!.formType.replace(/\/A$/i, "").toUpperCase()
      const filings = [
        ...(first.sec === undefined ? [] : [{ cik: first.sec.cik, formType: first.sec.formType }]),
        ...(earlier.alert.linked ?? []).flatMap((linked) =>
          linked.relation === "filing" && linked.cik !== undefined && linked.formType !== undefined
            ? [{ cik: linked.cik, formType: linked.formType }]
            : []
        )
      ]
      if (filings.some((filing) => filing.cik === item.sec!.cik && filing.formType.toUpperCase() === base)) {
        return { relation: "update", why: `${item.sec!.formType} amends its ${base}` } satisfies Match
      }
    }
    if (isWire(item) && isWire(first) && isCorrection(item.title)) {
      if (item.link === first.link || titleSimilarity(correctedTitle(item.title), first.title) >= similarTitles) {
        return { relation: "update", why: "a correction of its story" } satisfies Match
      }
    }
  }
  if (windows.eventMs > 0 && age <= windows.eventMs) {
    if (isWire(item) && furnishesPressRelease(first) && !hasLinked(earlier.alert, "press-release")) {
      return { relation: "press-release", why: "its press release" } satisfies Match
    }
    if (furnishesPressRelease(item) && isWire(first) && !hasLinked(earlier.alert, "filing")) {
      return { relation: "filing", why: `its ${item.sec!.formType}` } satisfies Match
    }
  }
  return null
}

export const linkedItemOf = (item: NormalizedItem, relation: LinkedItem["relation"], linkedAt: string): LinkedItem => ({
  relation,
  itemId: item.id,
  source: item.source,
  title: item.title,
  link: item.link,
  linkedAt,
  ...(item.sec !== undefined && { cik: item.sec.cik, formType: item.sec.formType, items: item.sec.items })
})

/** "8-K Items 1.01, 9.01": a filing's form and item numbers, as readers of the wires name them. */
export const filingLabel = (linked: LinkedItem): string => {
  const items = linked.items ?? []
  const numbers = items.length === 0 ? "" : ` Item${items.length > 1 ? "s" : ""} ${items.join(", ")}`
  return `${linked.formType ?? linked.source}${numbers}`
}

/** The story's headline as last carried: the newest update at the alert's own URL, or the alert's title. */
export const headlineOf = (alert: Alert): string =>
  (alert.linked ?? []).findLast((linked) => linked.relation === "update" && linked.link === alert.item.link)?.title ??
  alert.item.title

/** Marked "Updated": a later item (an amendment, a correction) updated the alert's story. */
export const isUpdated = (alert: Alert): boolean => (alert.linked ?? []).some((linked) => linked.relation === "update")

export const withLinked = (alert: Alert, linked: LinkedItem): Alert => ({
  ...alert,
  linked: [...(alert.linked ?? []), linked]
})

/** An alert whose item was edited into an earlier one instead of queued, and why. */
export interface LinkedAlert {
  readonly itemId: string
  readonly reason: string
}

const editReason = (relation: LinkedItem["relation"]): EditReason => (relation === "update" ? "update" : "event")

/**
 * One alert per event, and updates edited into the story they update. Given a cycle's alerts, before
 * they are queued: each one that belongs to an earlier alert (this cycle's, or one queued or posted
 * within the windows) is edited into it instead, on every outbox row of that alert's item (one per
 * route), with an edit of the posted message where it is out already. Call inside the cycle's
 * transaction, so the decision, the payload change and the edit request commit together.
 */
export class AlertLinks extends Effect.Service<AlertLinks>()("Delivery/AlertLinks", {
  effect: Effect.gen(function* () {
    const { delivery } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* Outbox
    const edits = yield* EditOutbox
    /**
     * Two transactions linking items of one event would each read "no earlier alert" and both
     * post. SQLite runs one transaction at a time; on PostgreSQL the caller's transaction takes a
     * lock per ticker (held to its commit, https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS),
     * in sorted order so two of them never wait on each other.
     */
    const lockTickers = (tickers: ReadonlyArray<string>) =>
      sql.onDialectOrElse({
        pg: () =>
          Effect.forEach(
            [...tickers].sort(),
            (ticker) => sql`SELECT pg_advisory_xact_lock(hashtext(${`alert-links:${ticker}`}))`,
            { discard: true }
          ).pipe(Effect.orDie),
        orElse: () => Effect.void
      })
    const windows: LinkWindows = {
      eventMs: delivery.eventWindowMinutes * 60_000,
      updateMs: delivery.updateLookbackHours * 3_600_000
    }
    const lookbackMs = Math.max(windows.eventMs, windows.updateMs)

    const attach = Effect.fn("AlertLinks.attach")(function* (alerts: ReadonlyArray<Alert>) {
      if (lookbackMs === 0 || alerts.length === 0) return { queue: alerts, linked: [] as ReadonlyArray<LinkedAlert> }
      const now = yield* Clock.currentTimeMillis
      const linkedAt = DateTime.formatIso(DateTime.unsafeMake(now))
      const tickers = Array.from(new Set(alerts.flatMap((alert) => Array.from(tickersOf(alert.item)))))
      yield* lockTickers(tickers)
      // Rows of one item (one per route) stand for it once: the newest row's payload.
      const stored = new Map<string, EarlierAlert>()
      for (const row of yield* outbox.recentForTickers(tickers, now - lookbackMs)) {
        if (!stored.has(row.itemId)) stored.set(row.itemId, { alert: row.alert, decidedAt: row.createdAt })
      }
      const queue: Array<Alert> = []
      const linked: Array<LinkedAlert> = []
      for (const alert of alerts) {
        const candidates = [
          ...queue.map((own, index) => ({ own: index, itemId: own.item.id, alert: own, decidedAt: now })),
          ...Array.from(stored, ([itemId, entry]) => ({ own: null, itemId, ...entry }))
        ]
        const found = candidates
          .map((candidate) => ({ candidate, match: matchEarlier(alert.item, candidate, now, windows) }))
          .find((entry) => entry.match !== null)
        if (found === undefined || found.match === null) {
          queue.push(alert)
          continue
        }
        const { candidate, match } = found
        const entry = linkedItemOf(alert.item, match.relation, linkedAt)
        if (candidate.own !== null) {
          queue[candidate.own] = withLinked(queue[candidate.own]!, entry)
        } else {
          stored.set(candidate.itemId, { decidedAt: candidate.decidedAt, alert: withLinked(candidate.alert, entry) })
          for (const row of yield* outbox.rowsForItem(candidate.itemId)) {
            const status = yield* outbox.applyFollowUp(row.id, withLinked(row.alert, entry))
            // Not yet out: the post carries it (a send in flight sees the version move on and edits).
            if (status === "delivered") yield* edits.request(row.id, editReason(match.relation))
          }
        }
        yield* Metric.increment(Metric.tagged(alertsLinked, "relation", match.relation))
        linked.push({
          itemId: alert.item.id,
          reason: `alerted as an edit of ${candidate.alert.item.source} item ${candidate.itemId}: ${match.why}`
        })
      }
      return { queue, linked: linked as ReadonlyArray<LinkedAlert> }
    })

    /**
     * Wire items seen before (a wire item's URL is its id) that come back with a new headline: the
     * story was updated in place. Each one whose alert is within ALERT_UPDATE_LOOKBACK_HOURS is
     * edited into it, on every outbox row of it (one per route), marked updated, with an edit of
     * the posted message where it is out already; nothing is posted again. Call inside the cycle's
     * transaction, like `attach`.
     */
    const retitled = Effect.fn("AlertLinks.retitled")(function* (items: ReadonlyArray<NormalizedItem>) {
      const wires = items.filter(isWire)
      if (windows.updateMs === 0 || wires.length === 0) return [] as ReadonlyArray<LinkedAlert>
      const now = yield* Clock.currentTimeMillis
      const linkedAt = DateTime.formatIso(DateTime.unsafeMake(now))
      const rowsByItem = new Map<string, Array<AlertRow>>()
      for (const row of yield* outbox.recentForItems(
        wires.map((item) => item.id),
        now - windows.updateMs
      )) {
        rowsByItem.set(row.itemId, [...(rowsByItem.get(row.itemId) ?? []), row])
      }
      const linked: Array<LinkedAlert> = []
      for (const item of wires) {
        const rows = rowsByItem.get(item.id)
        if (rows === undefined) continue
        const newest = rows[rows.length - 1]!.alert
        if (storySignature(item.title) === storySignature(headlineOf(newest))) continue
        const entry = linkedItemOf(item, "update", linkedAt)
        for (const row of rows) {
          const status = yield* outbox.applyFollowUp(row.id, withLinked(row.alert, entry))
          if (status === "delivered") yield* edits.request(row.id, "update")
        }
        yield* Metric.increment(Metric.tagged(alertsLinked, "relation", "update"))
        linked.push({ itemId: item.id, reason: "new headline at the same URL: edited into its alert as an update" })
      }
      return linked as ReadonlyArray<LinkedAlert>
    })

    return { attach, retitled } as const
  }),
  dependencies: [AppConfig.Default, Outbox.Default, EditOutbox.Default, SqlLive]
}) {}
