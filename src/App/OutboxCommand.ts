import { Args, Command } from "@effect/cli"
import { Clock, Console, Effect, Schema } from "effect"
import { type FailedRow, Outbox } from "../Delivery/Outbox.js"

/** Ids `outbox retry` could not re-queue, all in one line. */
export class OutboxRetryRefused extends Schema.TaggedError<OutboxRetryRefused>()("OutboxRetryRefused", {
  message: Schema.String
}) {}

const statusLabel: Record<FailedRow["status"], string> = {
  dead: "dead-lettered",
  expired: "expired",
  uncertain: "uncertain"
}

const formatAge = (ms: number): string => {
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 60) return `${minutes}m`
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`
  return `${Math.floor(minutes / 1440)}d`
}

const printFailed = Effect.gen(function* () {
  const rows = yield* (yield* Outbox).listFailed()
  if (rows.length === 0) return yield* Console.log("no dead-lettered, expired or uncertain alerts")
  const now = yield* Clock.currentTimeMillis
  const width = Math.max(2, ...rows.map((row) => String(row.id).length))
  yield* Console.log(`${"ID".padStart(width)}  STATUS         AGE  TICKER  TITLE`)
  for (const row of rows) {
    yield* Console.log(
      `${String(row.id).padStart(width)}  ${statusLabel[row.status].padEnd(13)} ${formatAge(now - row.createdAt).padStart(4)}  ${row.ticker.padEnd(6)}  ${row.title}`
    )
    if (row.lastError !== null) yield* Console.log(`${" ".repeat(width)}  ${row.lastError}`)
  }
  const count = (status: FailedRow["status"]) => rows.filter((row) => row.status === status).length
  yield* Console.log(
    `${count("dead")} dead-lettered, ${count("expired")} expired, ${count("uncertain")} uncertain. ` +
      "`catalyst-bot outbox retry` queues the dead-lettered and expired ones again; uncertain ones (they may have arrived) only by id."
  )
})

const retry = Command.make(
  "retry",
  {
    ids: Args.integer({ name: "id" }).pipe(
      Args.repeated,
      Args.withDescription("outbox ids (default: every dead-lettered and expired alert)")
    )
  },
  ({ ids }) =>
    Effect.gen(function* () {
      const { requeued, refused } = yield* (yield* Outbox).requeue(ids)
      yield* Console.log(
        requeued.length === 0
          ? "nothing to queue again"
          : `queued again: ${requeued.length} alert(s) (${requeued.join(", ")}); a running bot sends them within seconds`
      )
      if (refused.length > 0) {
        return yield* new OutboxRetryRefused({
          message: refused.map(({ id, reason }) => `alert ${id}: ${reason}`).join("; ")
        })
      }
    }).pipe(Effect.provide(Outbox.Default))
).pipe(
  Command.withDescription(
    "Queue failed alerts again, with a fresh ALERT_MAX_DELAY_MINUTES; uncertain ones are checked or marked as possible repeats"
  )
)

/** `catalyst-bot outbox`: the alerts delivery gave up on; `outbox retry [ID…]` queues them again. */
export const outboxCommand = Command.make("outbox", {}, () => printFailed.pipe(Effect.provide(Outbox.Default))).pipe(
  Command.withDescription("List dead-lettered, expired and uncertain alerts, with why"),
  Command.withSubcommands([retry])
)
