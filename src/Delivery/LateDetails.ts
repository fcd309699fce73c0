import * as SqlClient from "@effect/sql/SqlClient"
import { Duration, Effect, FiberSet, Metric } from "effect"
import { combine } from "../Classification/Classifier.js"
import type { Alert, ClassifiedItem, Classification, CompanySize } from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"
import { makeTestLayer } from "../Kernel/TestLayer.js"
import { EditOutbox } from "./EditOutbox.js"
import { Outbox, type OutboxStatus } from "./Outbox.js"

export const detailsEdited = Metric.counter("alert_details_edited_total", {
  description: "Filing documents or company sizes that arrived after their alert was due, and were edited into it"
})

/** Past this a late detail is given up: FollowUp would drop its edit as too old anyway. */
const followAtMost = Duration.minutes(2)

/** Rows whose alert is out or still on its way: the only ones a late detail changes. */
const liveStatuses: ReadonlyArray<OutboxStatus> = ["pending", "deferred", "sending", "delivered"]

const keywordsOf = ({ llm: _llm, ...keywords }: Classification) => keywords

/**
 * The alert with what its filing's documents say: the verdict with their text read too, the stake,
 * the offering terms, the exhibit read. The row's own LLM verdict stays (it may have been edited in
 * while the documents were being read).
 */
export const withDocuments = (alert: Alert, read: ClassifiedItem): Alert => ({
  ...alert,
  classification:
    read.classification.llm._tag === "Pending"
      ? combine(keywordsOf(read.classification), alert.classification.llm)
      : read.classification,
  ...(read.filing?.ownership !== undefined && { ownership: read.filing.ownership }),
  ...(read.filing?.offering !== undefined && { offering: read.filing.offering }),
  ...(read.filing?.exhibit !== undefined && { exhibit: read.filing.exhibit })
})

export const withSize = (alert: Alert, size: CompanySize): Alert => ({ ...alert, size })

/** A change to an alert that is still being worked out when the alert is due, and what it is. */
export interface LateDetail {
  readonly itemId: string
  /** "EX-99.1 text", "company size": for the log line. */
  readonly what: string
  /** Ends with the change to make, or null when there is nothing to add after all. */
  readonly change: Effect.Effect<((alert: Alert) => Alert) | null>
}

/**
 * Post first, edit in the rest, for SEC items: a filing's documents (EX-99.1, cover page, 13D) and its
 * company's size that arrive after the alert was due are applied to every live outbox row of the item
 * (Outbox.applyFollowUp) and, where the message is out already, edited into it (EditOutbox, reason
 * `details`), in one transaction. Each detail is followed in a fiber of this service's scope.
 */
export class LateDetails extends Effect.Service<LateDetails>()("Delivery/LateDetails", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* Outbox
    const edits = yield* EditOutbox
    const followers = yield* FiberSet.make()

    /** Applies `change` to the item's alert; false when the item has no live alert (linked into another, dropped). */
    const apply = Effect.fn("LateDetails.apply")(function* (itemId: string, change: (alert: Alert) => Alert) {
      return yield* sql
        .withTransaction(
          Effect.gen(function* () {
            const rows = (yield* outbox.rowsForItem(itemId)).filter((row) => liveStatuses.includes(row.status))
            for (const row of rows) {
              const status = yield* outbox.applyFollowUp(row.id, change(row.alert))
              // Not yet out: the post carries it (a send in flight sees the version move on and edits).
              if (status === "delivered") yield* edits.request(row.id, "details")
            }
            return rows.length > 0
          })
        )
        .pipe(Effect.orDie)
    })

    /** Follows each detail in the background, once the cycle that queued its alert has committed. */
    const follow = Effect.fn("LateDetails.follow")(function* (details: ReadonlyArray<LateDetail>) {
      for (const { itemId, what, change } of details) {
        yield* FiberSet.run(
          followers,
          change.pipe(
            Effect.timeout(followAtMost),
            Effect.flatMap((found) =>
              found === null
                ? Effect.void
                : Effect.flatMap(apply(itemId, found), (applied) =>
                    applied
                      ? Effect.zipRight(
                          Metric.increment(Metric.tagged(detailsEdited, "detail", what)),
                          Effect.logDebug(`item ${itemId}: ${what} arrived after the alert was due; edited in`)
                        )
                      : Effect.logDebug(`item ${itemId}: ${what} arrived late, and the item has no alert of its own`)
                  )
            ),
            Effect.catchAllCause((cause) =>
              Effect.logDebug(`item ${itemId}: ${what} not edited in: ${String(cause).split("\n")[0]}`)
            )
          )
        )
      }
    })

    /** Resolves once every detail followed so far has been applied or given up (tests, `once`). */
    const settled = FiberSet.awaitEmpty(followers)

    return { follow, settled } as const
  }).pipe(Effect.annotateLogs("module", "LateDetails")),
  dependencies: [Outbox.Default, EditOutbox.Default, SqlLive]
}) {
  static readonly Test = makeTestLayer(LateDetails)
}
