import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Data, Duration, Effect, Either, Option, Schedule, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import type { InsiderTrade, SecFiling } from "../Kernel/Domain.js"
import { SecClient } from "../Kernel/SecClient.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"
import { type OwnershipDocument, parseOwnershipXml, type ReportingOwner } from "./OwnershipXml.js"

class OwnershipUnreadable extends Data.TaggedError("OwnershipUnreadable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** A filing folder's `index.json` (https://www.sec.gov/os/accessing-edgar-data): the documents it holds. */
const FilingIndex = Schema.Struct({
  directory: Schema.Struct({ item: Schema.Array(Schema.Struct({ name: Schema.String })) })
})

/** The ownership document: the filing's XML that isn't an XBRL viewer page or the filing summary. */
const ownershipDocumentName = (names: ReadonlyArray<string>) =>
  names.find((name) => /\.xml$/i.test(name) && !/^(FilingSummary|R\d+)\.xml$/i.test(name) && !name.includes("/"))

export type InsiderVerdict =
  { readonly _tag: "Alert"; readonly trade: InsiderTrade } | { readonly _tag: "Filtered"; readonly reason: string }

const codeNames: Record<string, string> = {
  P: "open-market purchase",
  S: "open-market sale",
  A: "grant or award",
  M: "option exercise",
  F: "tax withholding",
  G: "gift"
}

export const relationshipOf = (owner: ReportingOwner): string =>
  [
    ...(owner.isOfficer ? [owner.officerTitle === null ? "Officer" : owner.officerTitle] : []),
    ...(owner.isDirector ? ["Director"] : []),
    ...(owner.isTenPercentOwner ? ["10% owner"] : [])
  ].join(", ")

const usd = (value: number) => `$${Math.round(value).toLocaleString("en-US")}`

/** The transactions of one code summed: shares, share-weighted price, value and the holding after the last. */
const summarise = (document: OwnershipDocument, code: string) => {
  const chosen = document.transactions.filter((transaction) => transaction.code === code)
  const shares = chosen.reduce((sum, transaction) => sum + transaction.shares, 0)
  const priced = chosen.every((transaction) => transaction.price !== null)
  const value = priced
    ? chosen.reduce((sum, transaction) => sum + transaction.shares * (transaction.price ?? 0), 0)
    : null
  const owner = document.owners[0]!
  const dates = chosen.flatMap((transaction) => (transaction.date === null ? [] : [transaction.date])).sort()
  return {
    owner,
    date: dates[dates.length - 1] ?? null,
    trade: {
      owner: document.owners.map((each) => each.name).join(" & "),
      relationship: relationshipOf(owner),
      code,
      shares,
      price: value === null || shares === 0 ? null : value / shares,
      valueUsd: value,
      sharesOwnedAfter: chosen[chosen.length - 1]?.sharesOwnedAfter ?? null,
      clusterInsiders: null
    } satisfies InsiderTrade
  }
}

const day = Duration.toMillis(Duration.days(1))

/**
 * Form 4 insider transactions: reads the filing's ownership XML through the shared SEC budget
 * (background lane) and decides it. Open-market purchases (code P) worth INSIDER_MIN_VALUE_USD or
 * more alert, marked as a cluster buy when another insider of the issuer bought within
 * INSIDER_CLUSTER_DAYS; sales alert only with INSIDER_ALERT_SALES=1; everything else is filtered.
 */
export class InsiderTrades extends Effect.Service<InsiderTrades>()("Classification/InsiderTrades", {
  effect: Effect.gen(function* () {
    const { sec: settings, feeds } = yield* AppConfig
    const sec = yield* SecClient
    const sql = yield* SqlClient.SqlClient

    const client = Effect.map(sec.client, (http) =>
      http.pipe(
        HttpClient.filterStatusOk,
        HttpClient.transformResponse(Effect.timeout(Duration.seconds(10))),
        HttpClient.retryTransient({ schedule: Schedule.exponential("500 millis").pipe(Schedule.jittered), times: 2 })
      )
    )

    const fetchDocument = (filing: SecFiling) =>
      Effect.gen(function* () {
        const http = yield* client
        const folder = `${feeds.secBaseUrl}/Archives/edgar/data/${filing.cik.replace(/^0+/, "") || "0"}/${filing.accession.replace(/-/g, "")}`
        const index = yield* http
          .get(`${folder}/index.json`)
          .pipe(Effect.flatMap(HttpClientResponse.schemaBodyJson(FilingIndex)), Effect.scoped)
        const name = ownershipDocumentName(index.directory.item.map((item) => item.name))
        if (name === undefined) return yield* new OwnershipUnreadable({ reason: "no XML document in the filing index" })
        const xml = yield* http.get(`${folder}/${encodeURIComponent(name)}`).pipe(
          Effect.flatMap((response) => response.text),
          Effect.scoped
        )
        return yield* Either.match(parseOwnershipXml(xml), {
          onLeft: (reason) => Effect.fail(new OwnershipUnreadable({ reason: `${name}: ${reason}` })),
          onRight: Effect.succeed
        })
      })

    /** Records the purchase and counts the issuer's distinct buyers within the cluster window. */
    const clusterSize = (filing: SecFiling, owner: ReportingOwner, tradedAt: number) =>
      Effect.gen(function* () {
        const window = settings.insiderClusterDays * day
        yield* sql`DELETE FROM insider_purchases WHERE traded_at < ${tradedAt - 4 * window}`
        yield* sql`INSERT INTO insider_purchases ${sql.insert({
          accession: filing.accession,
          owner: owner.cik ?? owner.name.toUpperCase(),
          issuer_cik: filing.cik.padStart(10, "0"),
          traded_at: tradedAt
        })} ON CONFLICT (accession, owner) DO NOTHING`
        const rows = yield* sql<{ buyers: number }>`SELECT COUNT(DISTINCT owner) AS buyers FROM insider_purchases
          WHERE issuer_cik = ${filing.cik.padStart(10, "0")} AND traded_at >= ${tradedAt - window} AND traded_at <= ${tradedAt + window}`
        return Number(rows[0]?.buyers ?? 0)
      }).pipe(Effect.orDie)

    const decide = (filing: SecFiling, document: OwnershipDocument) =>
      Effect.gen(function* () {
        const codes = new Set(document.transactions.map((transaction) => transaction.code))
        const code = codes.has("P") ? "P" : codes.has("S") && settings.insiderAlertSales ? "S" : undefined
        if (code === undefined) {
          const found = Array.from(codes, (each) => `${each} (${codeNames[each] ?? "other"})`).join(", ")
          return {
            _tag: "Filtered",
            reason:
              found === ""
                ? "Form 4 without non-derivative transactions"
                : `Form 4 ${found}: only open-market purchases alert${codes.has("S") ? " (sales with INSIDER_ALERT_SALES=1)" : ""}`
          } satisfies InsiderVerdict
        }
        const { owner, date, trade } = summarise(document, code)
        if (
          settings.insiderMinValueUsd > 0 &&
          (trade.valueUsd === null || trade.valueUsd < settings.insiderMinValueUsd)
        ) {
          const worth = trade.valueUsd === null ? "of unknown value (no price)" : `of ${usd(trade.valueUsd)}`
          return {
            _tag: "Filtered",
            reason: `insider ${codeNames[code]} ${worth} below INSIDER_MIN_VALUE_USD ${usd(settings.insiderMinValueUsd)}`
          } satisfies InsiderVerdict
        }
        if (code !== "P") return { _tag: "Alert", trade } satisfies InsiderVerdict
        const tradedAt = date === null ? yield* Clock.currentTimeMillis : Date.parse(`${date}T00:00:00Z`)
        const buyers = yield* clusterSize(filing, owner, tradedAt)
        return {
          _tag: "Alert",
          trade: { ...trade, clusterInsiders: buyers >= 2 ? buyers : null }
        } satisfies InsiderVerdict
      })

    /** Reads and decides one Form 4; an unreadable one is filtered with the reason, one debug line. */
    const verdict = Effect.fn("InsiderTrades.verdict")(function* (filing: SecFiling) {
      const document = yield* fetchDocument(filing).pipe(
        Effect.timeout(Duration.seconds(30)),
        Effect.mapError((error) =>
          error._tag === "OwnershipUnreadable"
            ? error
            : new OwnershipUnreadable({
                reason: error._tag === "SecUserAgentMissing" ? "SEC_USER_AGENT is not set" : error.message
              })
        ),
        Effect.tapError((error) =>
          Effect.logDebug(`Form 4 ${filing.accession}: ownership document unreadable (${error.reason})`)
        ),
        Effect.option
      )
      if (Option.isNone(document)) {
        return { _tag: "Filtered", reason: "Form 4 ownership document unreadable" } satisfies InsiderVerdict
      }
      return yield* decide(filing, document.value)
    })

    return { verdict } as const
  }).pipe(Effect.annotateLogs("module", "InsiderTrades")),
  dependencies: [AppConfig.Default, SecClient.Default, SqlLive]
}) {
  static readonly Test = makeTestLayer(InsiderTrades)
}
