import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Duration, Effect, Either, Layer, Metric, Schedule } from "effect"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { Classifier, combine } from "../Classification/Classifier.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import type { ChartOutcome, Classification } from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"
import { rejectBeforeMarket } from "../MarketData/Filters.js"
import { AlertSink, type EditEntry } from "./AlertSink.js"
import { EditOutbox, type EditRow } from "./EditOutbox.js"
import { type AwaitingLlm, Outbox, type OutboxStatus, queuedByLinks } from "./Outbox.js"

export const editsSent = Metric.counter("alert_edits_sent_total", {
  description: "Edits of delivered alerts (LLM verdict, late chart) that Discord took"
})
export const editsExpired = Metric.counter("alert_edits_expired_total", {
  description: "Edits dropped because they could not be made within EDIT_MAX_DELAY_MINUTES"
})
export const editsGone = Metric.counter("alert_edits_gone_total", {
  description: "Edits ended because their message no longer exists (404)"
})

const pollInterval = Duration.millis(500)
const batchSize = 25
const maxBackoffMs = 30_000
const notDelivered: ReadonlyArray<OutboxStatus> = ["dead", "expired", "uncertain", "dropped"]

const keywordsOf = ({ llm: _llm, ...keywords }: Classification) => keywords

/**
 * What follows a post (LLM_MODE=enrich, late charts): the LLM verdict of alerts that went out on
 * keywords, and the edits of their messages. Both are driven from SQLite (`outbox.llm_pending`,
 * `outbox_edits`), so a restart picks up where a crash left off. An edit rewrites the whole message:
 * every alert sharing its message id, in id order.
 */
export class FollowUp extends Effect.Service<FollowUp>()("Delivery/FollowUp", {
  effect: Effect.gen(function* () {
    const { delivery: settings, filters, classify, charts: chartSettings } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* Outbox
    const edits = yield* EditOutbox
    const sink = yield* AlertSink
    const charts = yield* ChartRenderer
    const classifier = yield* Classifier
    const database = yield* DatabaseWatch
    const maxAgeMs = settings.editMaxDelayMinutes * 60_000

    /** The verdicts of one batch; each lands on its row, and on its message when that is already out. */
    const enrich = Effect.fn("FollowUp.enrich")(function* (rows: ReadonlyArray<AwaitingLlm>) {
      const now = yield* Clock.currentTimeMillis
      const fresh = rows.filter((row) => now - row.createdAt <= maxAgeMs)
      for (const row of rows.filter((row) => !fresh.includes(row))) {
        yield* outbox.abandonFollowUp(row.id)
        yield* Effect.logWarning(
          `alert ${row.id} (${row.alert.ticker.symbol}): LLM verdict not sought, older than EDIT_MAX_DELAY_MINUTES=${settings.editMaxDelayMinutes}`
        )
      }
      if (fresh.length === 0) return
      const classifications = yield* classifier.followUp(
        fresh.map((row) => ({ item: row.alert.item, keywords: keywordsOf(row.alert.classification) }))
      )
      for (const [index, row] of fresh.entries()) {
        const verdict = classifications[index]!
        const veto = yield* sql
          .withTransaction(
            Effect.gen(function* () {
              // The payload as it is now: late filing documents or a size may have been edited in meanwhile.
              const current = (yield* outbox.messageRows(row.id)).find((own) => own.id === row.id)?.alert ?? row.alert
              const classification = combine(keywordsOf(current.classification), verdict.llm)
              const veto = rejectBeforeMarket(filters, { item: current.item, classification })
              const alert = { ...current, classification, ...(veto !== null && { llmVeto: veto }) }
              const status = yield* outbox.applyFollowUp(row.id, alert)
              // Not yet sent: the post carries the verdict (or Delivery sees the version moved on and edits).
              if (status === "delivered") yield* edits.request(row.id, "llm")
              return veto
            })
          )
          .pipe(Effect.orDie)
        if (veto !== null) {
          yield* Effect.logInfo(
            `alert ${row.id} (${row.alert.ticker.symbol}): LLM_MODE=gate would have vetoed it: ${veto}`
          )
        }
      }
    })

    /** Alerts waiting for a verdict: checked untraced, so an idle loop adds nothing to Jaeger. */
    const awaiting = outbox.awaitingLlm(classify.llmConcurrency * 2).pipe(Effect.withTracerEnabled(false))
    const dueEdits = edits.due(batchSize).pipe(Effect.withTracerEnabled(false))

    const enrichOnce = Effect.flatMap(awaiting, (rows) =>
      rows.length === 0 ? Effect.succeed(0) : Effect.as(enrich(rows), rows.length)
    )

    const chartFor = (entry: Omit<EditEntry, "chart">) =>
      charts.forAlert(entry.alert).pipe(
        Effect.catchAllCause((cause) =>
          Effect.succeed<ChartOutcome>({ _tag: "Failed", reason: String(cause).split("\n")[0] ?? "chart failed" })
        ),
        Effect.map((chart): EditEntry => ({ ...entry, chart }))
      )

    const backoffMs = (attempts: number) =>
      Math.round(Math.min(settings.retryBaseSeconds * 1000 * 2 ** attempts, maxBackoffMs) * (0.8 + Math.random() * 0.4))

    /** One edit and every other pending one of the same message, in one PATCH. False: the bucket is empty, stop. */
    const sendEdit = Effect.fn("FollowUp.sendEdit")(function* (edit: EditRow, handled: Set<number>) {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* outbox.messageRows(edit.outboxId)
      const ids = yield* edits.pendingFor(rows.map((row) => row.id))
      for (const id of ids) handled.add(id)
      const own = rows.find((row) => row.id === edit.outboxId)
      if (own === undefined || notDelivered.includes(own.status)) {
        yield* edits.settle(ids, "dropped", "the alert was not delivered")
        return true
      }
      if (now - edit.createdAt > maxAgeMs) {
        yield* edits.settle(ids, "dropped", `not made within EDIT_MAX_DELAY_MINUTES=${settings.editMaxDelayMinutes}`)
        yield* Metric.incrementBy(editsExpired, ids.length)
        yield* Effect.logWarning(
          `edit of alert ${own.id} (${own.alert.ticker.symbol}) dropped: not made within EDIT_MAX_DELAY_MINUTES=${settings.editMaxDelayMinutes}`
        )
        return true
      }
      // Its post is still on the way: the edit follows it.
      if (own.status !== "delivered") {
        yield* edits.reschedule(ids, now + 1_000, null, false)
        return true
      }
      yield* Effect.annotateCurrentSpan({ "alert.id": own.id, ticker: own.alert.ticker.symbol, edits: ids.length })
      const entries = yield* Effect.forEach(
        rows.filter((row) => row.status === "delivered"),
        (row) => chartFor({ id: row.id, route: row.route, alert: row.alert, possibleRepeat: row.possibleRepeat }),
        { concurrency: chartSettings.workers }
      )
      const result = yield* Effect.either(
        sink.edit(own.messageId, entries).pipe(Effect.withSpan("FollowUp.patch", { links: queuedByLinks(rows) }))
      )
      if (Either.isRight(result)) {
        yield* edits.settle(ids, "sent", null)
        yield* Metric.incrementBy(editsSent, ids.length)
        return true
      }
      const error = result.left
      if (error.gone) {
        yield* edits.settle(ids, "gone", error.reason)
        yield* Metric.incrementBy(editsGone, ids.length)
        yield* Effect.logInfo(`edit of alert ${own.id} (${own.alert.ticker.symbol}) ended: ${error.reason}`)
        return true
      }
      if (error.retryAfterMs !== undefined) {
        yield* edits.reschedule(ids, now + error.retryAfterMs, error.reason, false)
        return false
      }
      if (error.retryable) {
        yield* edits.reschedule(ids, now + backoffMs(edit.attempts), error.reason, true)
        yield* Effect.logWarning(
          `edit of alert ${own.id} (${own.alert.ticker.symbol}) failed, trying again: ${error.reason}`
        )
        return true
      }
      yield* edits.settle(ids, "failed", error.reason)
      yield* Effect.logError(`edit of alert ${own.id} (${own.alert.ticker.symbol}) refused: ${error.reason}`)
      return true
    })

    const sendEdits = Effect.fn("FollowUp.sendEdits")(function* (due: ReadonlyArray<EditRow>) {
      const handled = new Set<number>()
      for (const edit of due) {
        if (handled.has(edit.id)) continue
        if (!(yield* sendEdit(edit, handled))) break
      }
    })

    /** Alerts waiting to be posted: an edit shares their webhook's rate-limit bucket, and they go first. */
    const postsDue = outbox.due(1).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.withTracerEnabled(false)
    )

    const editOnce = Effect.flatMap(dueEdits, (due) =>
      due.length === 0
        ? Effect.succeed(0)
        : Effect.flatMap(postsDue, (waiting) => (waiting ? Effect.succeed(0) : Effect.as(sendEdits(due), due.length)))
    )

    /**
     * `once`: verdicts and edits until nothing is due (edits waiting for a retry stay queued), or
     * `timeout`. Returns how many edits Discord took, and how many are still queued.
     */
    const drain = Effect.fn("FollowUp.drain")(function* (timeout: Duration.Duration) {
      const sentBefore = (yield* Metric.value(editsSent)).count
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
      while ((yield* Clock.currentTimeMillis) < deadline) {
        const enriched = yield* enrichOnce
        const edited = yield* editOnce
        if (enriched === 0 && edited === 0) break
      }
      return { sent: (yield* Metric.value(editsSent)).count - sentBefore, pending: yield* edits.pendingCount }
    })

    const loop = (step: Effect.Effect<number>, idle: Effect.Effect<void>) =>
      step.pipe(
        Effect.flatMap((handled) => (handled > 0 ? Effect.void : idle)),
        database.guardStep("follow-up loop"),
        Effect.repeat(Schedule.forever)
      )

    return {
      enrichOnce,
      editOnce,
      drain,
      enrichLoop: loop(enrichOnce, Effect.sleep(pollInterval)),
      editLoop: loop(editOnce, Effect.raceFirst(edits.awaitWork, Effect.sleep(pollInterval)))
    } as const
  }).pipe(Effect.annotateLogs("module", "FollowUp")),
  dependencies: [
    AppConfig.Default,
    Outbox.Default,
    EditOutbox.Default,
    ChartRenderer.Default,
    Classifier.Default,
    DatabaseWatch.Default,
    SqlLive
  ]
}) {}

/**
 * The follow-up fibers beside delivery: LLM verdicts (bounded by LLM_CYCLE_BUDGET_SECONDS per batch)
 * and message edits; each logs its errors and carries on.
 */
export const FollowUpWorker = Layer.scopedDiscard(
  Effect.gen(function* () {
    const followUp = yield* FollowUp
    yield* Effect.forkScoped(followUp.enrichLoop)
    yield* Effect.forkScoped(followUp.editLoop)
  })
)
