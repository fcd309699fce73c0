import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  type Either,
  Exit,
  Fiber,
  FiberSet,
  Layer,
  Metric,
  Option,
  Ref,
  Schedule
} from "effect"
import * as SqlClient from "@effect/sql/SqlClient"
import { AdminChannel } from "../Kernel/AdminChannel.js"
import { AlertLatency } from "../Kernel/AlertLatency.js"
import { AlertSink, type Delivered, type DeliveryError, type SendEntry } from "./AlertSink.js"
import { ChartRenderer } from "../Charts/ChartRenderer.js"
import { AppConfig } from "../Kernel/AppConfig.js"
import { DatabaseWatch } from "../Kernel/DatabaseWatch.js"
import type { ChartOutcome } from "../Kernel/Domain.js"
import { ErrorTracker } from "../Kernel/ErrorTracker.js"
import { SqlLive } from "../Kernel/Sql.js"
import { routeWork, WorkOwners } from "../Kernel/WorkOwners.js"
import { EditOutbox } from "./EditOutbox.js"
import { cappedBy, Outbox, type OutboxRow, queuedByLinks, type StatusCounts } from "./Outbox.js"

const pollInterval = Duration.seconds(1)
const batchSize = 25
/** Retries of one alert are at most a minute apart, so delivery resumes within a minute of an outage's end. */
const maxBackoffMs = 60_000

export const alertsDelivered = Metric.counter("alerts_delivered_total", { description: "Alerts delivered by the sink" })
export const alertsDeadLettered = Metric.counter("alerts_dead_lettered_total", {
  description: "Alerts the sink rejected as invalid (400): never retried"
})
export const alertsExpired = Metric.counter("alerts_expired_total", {
  description: "Alerts still undelivered ALERT_MAX_DELAY_MINUTES after they were queued"
})
export const alertsUncertain = Metric.counter("alerts_uncertain_total", {
  description: "Alerts that may or may not have been delivered and are not sent again"
})

/** What `once` reports for the alerts of one cycle. */
export interface DrainReport {
  readonly delivered: number
  /** Still queued: waiting for a retry, a cap, or a usable webhook. */
  readonly deferred: number
  /** Dead-lettered, expired, or possibly delivered but not re-sent (uncertain). */
  readonly failed: number
  readonly dropped: number
  readonly timedOut: boolean
}

export const summarise = (counts: StatusCounts, timedOut: boolean): DrainReport => ({
  delivered: counts.delivered,
  deferred: counts.pending + counts.sending + counts.deferred,
  failed: counts.dead + counts.uncertain + counts.expired,
  dropped: counts.dropped,
  timedOut
})

const formatAge = (ms: number): string =>
  ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`

/**
 * Drains the outbox through the sink, one request at a time per route (routes side by side), taking turns between sources (oldest
 * first within each, see `Outbox.due`), and picks again as soon as new alerts arrive. When more
 * alerts wait than the sink's rate limit lets go at once, they share messages (see `Pack.ts`).
 * Each row is marked `sending` right before its request leaves, and `delivered` with the message id
 * after. Failures that may pass (5xx, timeouts, network errors) are retried with a capped, jittered
 * backoff until ALERT_MAX_DELAY_MINUTES, then the row is `expired`; a 400 is dead-lettered at once.
 * A send that may have created its message is never repeated silently: the channel is checked first
 * (bot token), or the repeat is marked as such, or (DELIVERY_AMBIGUOUS=drop) it is parked `uncertain`.
 * On shutdown no new row is taken, and a request already written gets SHUTDOWN_GRACE_SECONDS to answer.
 */
export class Delivery extends Effect.Service<Delivery>()("Delivery/Delivery", {
  scoped: Effect.gen(function* () {
    const { delivery: settings, charts: chartSettings, runner: runnerSettings } = yield* AppConfig
    const outbox = yield* Outbox
    const sink = yield* AlertSink
    const charts = yield* ChartRenderer
    const admin = yield* AdminChannel
    const errors = yield* ErrorTracker
    const latency = yield* AlertLatency
    const sql = yield* SqlClient.SqlClient
    const edits = yield* EditOutbox
    const database = yield* DatabaseWatch
    // Optional: harnesses that build delivery alone run it as one process, which holds every route.
    const owners = Option.getOrElse(yield* Effect.serviceOption(WorkOwners), () => WorkOwners.single)
    /** Routes being taken over (cluster mode): not delivered until the previous holder's sends are settled. */
    const adopting = new Set<string>()
    /** Routes whose claim was refused at the epoch held then: skipped until the route is taken anew. */
    const fenced = new Map<string, number>()
    /** Sends in flight per route, so a route let go of is handed over only once they are answered. */
    const inFlight = new Map<string, number>()
    const chartWaitMs = settings.chartWaitSeconds * 1000
    // Asked with `in`: a test sink answers every other property with a stub that dies.
    const packing = "packing" in sink ? sink.packing : undefined
    const rateLimitWait = "rateLimitWait" in sink ? sink.rateLimitWait : undefined
    const sinkUnavailable = yield* Ref.make(false)
    const maxDelayMs = settings.maxDelayMinutes * 60_000
    const answerWaitMs = settings.requestTimeoutSeconds * 1000

    // Sends run on fibers of their own, in this service's scope: interrupting the delivery loop can't
    // abort a request already written. `stopping` and `written` change only under `gate`, so once
    // shutdown has begun no request starts, and the ones that did are known.
    const sends = yield* FiberSet.make<boolean>()
    const stopping = yield* Deferred.make<void>()
    const gate = yield* Effect.makeSemaphore(1)
    const graceSeconds = runnerSettings.shutdownGraceSeconds
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* gate.withPermits(1)(Deferred.succeed(stopping, undefined))
        const inFlight = yield* FiberSet.size(sends)
        if (inFlight === 0) return
        yield* Effect.logInfo(
          `shutting down: waiting up to SHUTDOWN_GRACE_SECONDS=${graceSeconds} for the send in flight`
        )
        // Finalizers run uninterruptibly; the wait must be interruptible for the grace timeout to cut it short.
        yield* Effect.interruptible(FiberSet.awaitEmpty(sends)).pipe(
          Effect.timeout(Duration.seconds(graceSeconds)),
          Effect.ignore
        )
      })
    )

    const backoffMs = (attempts: number) => {
      const base = Math.min(settings.retryBaseSeconds * 1000 * 2 ** attempts, maxBackoffMs)
      return Math.round(base * (0.8 + Math.random() * 0.4))
    }

    const deadLetter = Effect.fn("Delivery.deadLetter")(function* (row: OutboxRow, reason: string) {
      yield* outbox.deadLetter(row.id, reason)
      yield* Metric.increment(alertsDeadLettered)
      yield* Effect.logError(`alert ${row.id} (${row.alert.ticker.symbol}) dead-lettered: ${reason}`)
      yield* admin.notify({
        key: `dead-letter:${row.id}`,
        title: `alert for ${row.alert.ticker.symbol} not delivered`,
        detail: `"${row.alert.item.title}" was dead-lettered after ${row.attempts + 1} attempt(s): ${reason}`
      })
    })

    const expire = Effect.fn("Delivery.expire")(function* (row: OutboxRow, reason: string, attempted: boolean) {
      yield* outbox.expire(row.id, reason, attempted)
      yield* Metric.increment(alertsExpired)
      yield* Effect.logError(`alert ${row.id} (${row.alert.ticker.symbol}) expired: ${reason}`)
      yield* admin.notify({
        key: `expired:${row.id}`,
        title: `alert for ${row.alert.ticker.symbol} not delivered`,
        detail: `"${row.alert.item.title}" expired: ${reason}. \`catalyst-bot outbox retry ${row.id}\` queues it again.`
      })
    })

    const parkUncertain = Effect.fn("Delivery.parkUncertain")(function* (row: OutboxRow, reason: string) {
      yield* outbox.parkUncertain(row.id, reason)
      yield* Metric.increment(alertsUncertain)
      yield* Effect.logWarning(`alert ${row.id} (${row.alert.ticker.symbol}) may not have been delivered: ${reason}`)
      yield* admin.notify({
        key: `uncertain:${row.id}`,
        title: `alert for ${row.alert.ticker.symbol} may or may not have been delivered`,
        detail: `"${row.alert.item.title}": ${reason}. \`catalyst-bot outbox retry ${row.id}\` sends it again, marked as a possible repeat.`
      })
    })

    const deadlineOf = (row: OutboxRow) => row.queuedAt + maxDelayMs
    const tooOld = (row: OutboxRow, now: number) =>
      `not delivered within ALERT_MAX_DELAY_MINUTES=${settings.maxDelayMinutes} (queued ${formatAge(now - row.queuedAt)} ago)`

    /** A failure that may pass: again after a capped, jittered backoff, the last time at the age limit. */
    const retryLater = Effect.fn("Delivery.retryLater")(function* (row: OutboxRow, reason: string, maybeSent: boolean) {
      const now = yield* Clock.currentTimeMillis
      if (now >= deadlineOf(row)) return yield* expire(row, `${tooOld(row, now)}; last error: ${reason}`, true)
      // Before the channel is checked, a message that may exist gets as long as a request may take to show up.
      const delay =
        maybeSent && sink.findDelivered !== undefined
          ? Math.max(backoffMs(row.attempts), answerWaitMs)
          : backoffMs(row.attempts)
      const at = Math.min(now + delay, deadlineOf(row))
      yield* outbox.reschedule(row.id, reason, at, maybeSent)
      yield* Effect.logWarning(
        `alert ${row.id} (${row.alert.ticker.symbol}) attempt ${row.attempts + 1} failed, retry in ${at - now} ms: ${reason}`
      )
    })

    /**
     * ALERTS_PER_TICKER_PER_MINUTE, per route (each channel gets its share; routes send on fibers of their
     * own, so a count across them would also race): true when the row may go now; otherwise it was deferred or dropped.
     * `packed` counts rows of the same ticker already in the message being packed, not yet marked sending.
     */
    const withinTickerCap = Effect.fn("Delivery.tickerCap")(function* (row: OutboxRow, packed = 0) {
      const cap = settings.alertsPerTickerPerMinute
      if (cap <= 0) return true
      const now = yield* Clock.currentTimeMillis
      const sends = yield* outbox.tickerSends(row.route, row.alert.ticker.symbol, now - 60_000)
      if (sends.count + packed < cap) return true
      const reason = `over ALERTS_PER_TICKER_PER_MINUTE=${cap} for ${row.alert.ticker.symbol}`
      if (settings.overflow === "drop") {
        yield* outbox.drop(row.id, reason)
        yield* Metric.increment(cappedBy("ticker", "dropped"))
        yield* Effect.logWarning(`alert ${row.id} dropped: ${reason}`)
      } else {
        yield* outbox.release(row.id, (sends.oldest ?? now) + 60_000)
        yield* Metric.increment(cappedBy("ticker", "deferred"))
        yield* Effect.logInfo(`alert ${row.id} deferred: ${reason}`)
      }
      return false
    })

    const chartFor = (row: OutboxRow) =>
      charts
        .forAlert(row.alert)
        .pipe(
          Effect.catchAllCause((cause) =>
            Effect.succeed<ChartOutcome>({ _tag: "Failed", reason: String(cause).split("\n")[0] ?? "chart failed" })
          )
        )

    /**
     * Rows whose packed message was refused as invalid (400): each goes alone from then on, so only the
     * one at fault is dead-lettered. In memory: after a restart such a row is packed once more at most.
     */
    const unpackable = new Set<number>()

    /**
     * What a send's answer means for each of its rows (one, or all of a packed message: they share its
     * message id, or each is retried, maybe-sent, on its own). Returns false when the batch must stop
     * (rate limited, sink gone).
     */
    const settle = Effect.fn("Delivery.settle")(function* (
      rows: ReadonlyArray<OutboxRow>,
      result: Either.Either<Delivered, DeliveryError>,
      lateCharts: ReadonlySet<number>
    ) {
      const now = yield* Clock.currentTimeMillis
      if (rows.length === 1) unpackable.delete(rows[0]!.id)
      if (result._tag === "Right") {
        // Every row of the message in one transaction, each with the edit it needs: a crash between post and
        // edit loses neither, and an edit (which rebuilds a packed message from the rows carrying its id)
        // never finds only some of them marked, which would erase the others' embeds. A verdict that reached
        // a row after its message was built (version moved on) is edited in too.
        yield* sql
          .withTransaction(
            Effect.forEach(
              rows,
              (row) =>
                Effect.gen(function* () {
                  const chartLate = lateCharts.has(row.id)
                  const version = yield* outbox.markDelivered(row.id, result.right.messageId)
                  if (chartLate || version !== row.version) yield* edits.request(row.id, chartLate ? "chart" : "llm")
                }),
              { discard: true }
            )
          )
          .pipe(Effect.orDie)
        for (const row of rows) {
          yield* Metric.increment(alertsDelivered)
          yield* latency.record(row.alert, now)
        }
        return true
      }
      const error: DeliveryError = result.left
      yield* Effect.annotateCurrentSpan("delivery.error", error.reason)
      yield* errors.record({
        stage: "delivery",
        tag: "DeliveryError",
        message: error.reason,
        subject: rows.map((row) => row.alert.ticker.symbol).join(", ")
      })
      if (error.retryAfterMs !== undefined) {
        yield* Effect.forEach(rows, (row) => outbox.release(row.id, now), { discard: true })
        return false
      }
      if (error.sinkUnavailable === true) {
        yield* Effect.forEach(rows, (row) => outbox.release(row.id, now), { discard: true })
        if (!(yield* Ref.getAndSet(sinkUnavailable, true))) {
          yield* Effect.logError(`${sink.name} can't deliver any more; alerts stay queued: ${error.reason}`)
          yield* admin.notify({
            key: `sink-unavailable:${sink.name}`,
            title: `${sink.name} alert webhook unusable`,
            detail: `${error.reason}. Alerts stay queued in the outbox; fix DISCORD_WEBHOOK_URL and restart.`
          })
        }
        return false
      }
      if (!error.retryable && rows.length > 1) {
        for (const row of rows) {
          unpackable.add(row.id)
          yield* outbox.release(row.id, now)
        }
        yield* Effect.logWarning(
          `alerts ${rows.map((row) => row.id).join(", ")} refused together (${error.reason}); sending each alone`
        )
        return true
      }
      for (const row of rows) {
        if (!error.retryable) {
          yield* deadLetter(row, error.reason)
        } else if (error.maybeSent === true && sink.findDelivered === undefined && settings.ambiguous === "drop") {
          yield* parkUncertain(row, `${error.reason}; not sent again (DELIVERY_AMBIGUOUS=drop)`)
        } else {
          yield* retryLater(row, error.reason, error.maybeSent === true)
        }
      }
      return true
    })

    /** A row cleared to go, and whether its message must say it may repeat an earlier one. */
    interface Ready {
      readonly row: OutboxRow
      readonly possibleRepeat: boolean
    }

    const entryOf = ({ row, possibleRepeat }: Ready, chart: ChartOutcome): SendEntry => ({
      alert: row.alert,
      chart,
      context: { id: row.id, route: row.route, possibleRepeat }
    })

    /**
     * One request (one alert, or several packed in id order) and its outcome, on a fiber of its own.
     * Until the request is written, shutdown cancels it (the rows stay pending); after, it has the
     * grace period, and its rows are parked uncertain if cut off.
     */
    const send = Effect.fn("Delivery.send")(function* (ready: ReadonlyArray<Ready>, chartsOf: ReadonlyArray<Timely>) {
      const rows = ready.map((entry) => entry.row)
      let written = false
      // A claim refused (the route moved to another runner) cancels the request like shutdown does.
      const beforeSend = gate
        .withPermits(1)(
          Effect.flatMap(Deferred.isDone(stopping), (stop) =>
            stop
              ? Effect.interrupt
              : Effect.flatMap(claimAll(rows), (claimed) =>
                  claimed
                    ? Effect.sync(() => {
                        written = true
                      })
                    : Effect.interrupt
                )
          )
        )
        .pipe(Effect.uninterruptible)
      const cancelledByShutdown = Deferred.await(stopping).pipe(
        Effect.zipRight(Effect.suspend(() => (written ? Effect.never : Effect.interrupt)))
      )
      const entries = ready.map((entry, index) => entryOf(entry, chartsOf[index]!.chart))
      const lateCharts = new Set(rows.filter((_, index) => chartsOf[index]!.late).map((row) => row.id))
      const request = (
        entries.length > 1 && packing !== undefined
          ? packing.sendMany(entries, beforeSend)
          : sink.send(entries[0]!.alert, entries[0]!.chart, beforeSend, entries[0]!.context)
      ).pipe(Effect.withSpan("Delivery.post", { links: queuedByLinks(rows), attributes: { alerts: rows.length } }))
      const attempt = Effect.raceFirst(request.pipe(Effect.either), cancelledByShutdown).pipe(
        Effect.flatMap((result) => settle(rows, result, lateCharts)),
        Effect.onInterrupt(() =>
          written
            ? Effect.forEach(
                rows,
                (row) =>
                  outbox.parkUncertain(
                    row.id,
                    `in flight at shutdown and unanswered after SHUTDOWN_GRACE_SECONDS=${graceSeconds}; not re-sent to avoid a duplicate`
                  ),
                { discard: true }
              )
            : Effect.void
        )
      )
      const route = rows[0]!.route
      inFlight.set(route, (inFlight.get(route) ?? 0) + 1)
      const exit = yield* Fiber.await(yield* FiberSet.run(sends, attempt)).pipe(
        Effect.ensuring(Effect.sync(() => inFlight.set(route, (inFlight.get(route) ?? 1) - 1)))
      )
      if (Exit.isSuccess(exit)) return exit.value
      return Cause.isInterruptedOnly(exit.cause) ? false : yield* Effect.failCause(exit.cause)
    })

    /**
     * Marks the rows in flight right before their request leaves. In cluster mode each is claimed
     * under its route's fencing epoch (Outbox.claim): false when a claim is refused, and nothing is sent.
     */
    const claimAll = (rows: ReadonlyArray<OutboxRow>) =>
      Effect.gen(function* () {
        const held = yield* owners.heldRoutes
        if (Option.isNone(held)) {
          yield* Effect.forEach(rows, (row) => outbox.markSending(row.id), { discard: true })
          return true
        }
        for (const row of rows) {
          const epoch = held.value.get(row.route)
          const claimed =
            epoch !== undefined &&
            (yield* outbox.claim(row.id, owners.runner, epoch, owners.stillHolds(routeWork(row.route), epoch)))
          if (!claimed) {
            fenced.set(row.route, epoch ?? -1)
            yield* Effect.logWarning(
              `alert ${row.id} not sent: route ${row.route} is held by another runner now, or the row was taken`
            )
            return false
          }
        }
        return true
      })

    /** The routes this runner delivers now (cluster mode), or undefined: every route. */
    const deliverable = Effect.map(owners.heldRoutes, (held) =>
      Option.getOrUndefined(
        Option.map(held, (map) =>
          [...map]
            .filter(([route, epoch]) => !adopting.has(route) && fenced.get(route) !== epoch)
            .map(([route]) => route)
        )
      )
    )

    /**
     * The checks before a row may go: its age, the per-ticker cap, and whether an earlier send landed
     * after all. The row is ready, or was settled here (expired, deferred, dropped, found delivered).
     */
    const prepare = Effect.fn("Delivery.prepare")(function* (row: OutboxRow, packed = 0) {
      const now = yield* Clock.currentTimeMillis
      // The last attempt is due at the deadline itself; a row found past it was never tried in time.
      if (now > deadlineOf(row)) {
        yield* expire(row, tooOld(row, now), false)
        return Option.none<Ready>()
      }
      if (!(yield* withinTickerCap(row, packed))) return Option.none<Ready>()
      if (!row.maybeSent) return Option.some<Ready>({ row, possibleRepeat: false })
      if (sink.findDelivered === undefined) return Option.some<Ready>({ row, possibleRepeat: true })
      const found = yield* Effect.either(sink.findDelivered(row.id, row.alert))
      if (found._tag === "Left") {
        yield* retryLater(row, `an earlier send may have landed, and ${found.left.reason}`, true)
        return Option.none<Ready>()
      }
      if (Option.isSome(found.right)) {
        yield* outbox.markDelivered(row.id, found.right.value.messageId)
        yield* Metric.increment(alertsDelivered)
        yield* Effect.logInfo(`alert ${row.id} (${row.alert.ticker.symbol}) had landed after all; not sent again`)
        return Option.none<Ready>()
      }
      return Option.some<Ready>({ row, possibleRepeat: false })
    })

    /** A chart and whether it missed CHART_WAIT_SECONDS (then the alert goes without it, and it is edited in). */
    interface Timely {
      readonly chart: ChartOutcome
      readonly late: boolean
    }
    const late: Timely = { chart: { _tag: "NoBars" }, late: true }
    /**
     * A burst (alerts packed because they queue behind the rate limit) waits only this long for its
     * charts, from when its rows were picked: a chart still drawing would hold every alert behind it,
     * so it is edited in once drawn instead.
     */
    const packChartWaitMs = 250
    /**
     * When this process first took each due row up (epoch ms), kept for the rows of the latest batch only.
     * CHART_WAIT_SECONDS counts from then, not from when the row's message is built: in a burst the later
     * messages would otherwise each wait anew for charts still rendering, one after another.
     */
    const firstPicked = new Map<number, number>()
    const notePicked = (rows: ReadonlyArray<OutboxRow>, now: number) => {
      const picked = rows.map((row) => [row.id, firstPicked.get(row.id) ?? now] as const)
      firstPicked.clear()
      for (const [id, at] of picked) firstPicked.set(id, at)
    }

    /** Resolves once an alert was enqueued after the `since`-th arrival. */
    const arrivalAfter = (since: number) =>
      Effect.gen(function* () {
        // A wake-up offered between the check and the take stays in the queue: none is missed.
        while ((yield* outbox.arrivalCount) === since) yield* outbox.awaitWork
      })

    /**
     * Past its row's chart wait (a burst's shorter one, `packChartWaitMs`, when `wait` is "packed"),
     * or once another alert has arrived after the `arrivedAfter`-th (it would queue behind this
     * wait), the chart goes along only if it is already drawn.
     */
    const withinChartWait = (
      row: OutboxRow,
      chart: Fiber.Fiber<ChartOutcome>,
      wait: { readonly arrivedAfter: number } | "packed"
    ): Effect.Effect<Timely> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const waitMs = wait === "packed" ? Math.min(chartWaitMs, packChartWaitMs) : chartWaitMs
        const left = (firstPicked.get(row.id) ?? now) + waitMs - now
        const drawn = Effect.map(
          Fiber.poll(chart),
          Option.match({
            onNone: () => late,
            onSome: (exit): Timely => (Exit.isSuccess(exit) ? { chart: exit.value, late: false } : late)
          })
        )
        if (left <= 0) return drawn
        const joined = Effect.map(
          Effect.timeoutOption(Fiber.join(chart), Duration.millis(left)),
          Option.match({ onNone: () => late, onSome: (rendered): Timely => ({ chart: rendered, late: false }) })
        )
        return wait === "packed"
          ? joined
          : Effect.raceFirst(joined, Effect.zipRight(arrivalAfter(wait.arrivedAfter), drawn))
      })

    /** Returns false when the batch must stop here (rate limited, the sink is gone, shutting down), to keep order. */
    const deliver = Effect.fn("Delivery.deliver")(function* (
      row: OutboxRow,
      chart: Fiber.Fiber<ChartOutcome>,
      arrivedAfter: number
    ) {
      const ready = yield* prepare(row)
      if (Option.isNone(ready)) return true
      return yield* send([ready.value], [yield* withinChartWait(row, chart, { arrivedAfter })])
    })

    /**
     * Alerts share messages once sending them one by one would spend more than half of what the sink's
     * rate limit lets go now: the rest of the bucket stays for what the next polls bring (a burst lands
     * on several wires within a second), instead of those waiting out the limit's window. A lone alert,
     * or two with a full bucket, go one message each.
     */
    const shouldPack = (waiting: number) =>
      packing === undefined || waiting < 2
        ? Effect.succeed(false)
        : Effect.map(packing.room, (room) => waiting > Math.floor(room / 2))

    /**
     * Routes whose webhook must wait out its rate limit (a 429's retry_after, a spent bucket), and until
     * when (epoch ms). Their rows are left queued, in order, while the other routes' rows go.
     */
    const waitingRoutes = new Map<string, number>()
    const stillWaiting = Effect.map(Clock.currentTimeMillis, (now) => {
      for (const [route, until] of waitingRoutes) if (until <= now) waitingRoutes.delete(route)
      return [...waitingRoutes.keys()]
    })
    /**
     * True when the row's route may send now. Otherwise the route joins `passed`, the routes this batch
     * leaves alone from here on, so none of its rows overtakes the one left queued.
     */
    const routeClear = Effect.fn("Delivery.routeClear")(function* (row: OutboxRow, passed: Set<string>) {
      if (passed.has(row.route)) return false
      const wait = rateLimitWait === undefined ? 0 : yield* rateLimitWait(row.route)
      if (wait <= 0 && !waitingRoutes.has(row.route)) return true
      if (wait > 0) waitingRoutes.set(row.route, (yield* Clock.currentTimeMillis) + wait)
      passed.add(row.route)
      return false
    })
    /** How long the loop may idle: until the first waiting route may send again, at most a poll interval. */
    const idleFor = Effect.map(Clock.currentTimeMillis, (now) =>
      Duration.millis(
        Math.max(
          0,
          Math.min(Duration.toMillis(pollInterval), ...[...waitingRoutes.values()].map((until) => until - now))
        )
      )
    )

    /** Most alerts one message carries: Discord's 10 embeds; the sink's `fitting` may allow fewer. */
    const maxPerMessage = 10

    /**
     * After a send that stopped the batch: when only the row's route was rate limited, the batch carries
     * on with the other routes' rows. False when everything must stop (the sink is gone, shutting down).
     */
    const routeHeldUp = (row: OutboxRow, passed: Set<string>) =>
      Effect.gen(function* () {
        if ((yield* Ref.get(sinkUnavailable)) || (yield* Deferred.isDone(stopping))) return false
        yield* routeClear(row, passed)
        passed.add(row.route)
        return true
      })

    /**
     * One route's rows of a batch, in `due` order (fair between sources), one request in flight at a
     * time so the route's messages land in order. Returns how many rows it handled.
     */
    const drainRoute = Effect.fn("Delivery.drainRoute")(function* (
      rows: ReadonlyArray<OutboxRow>,
      chartAt: (index: number) => Fiber.Fiber<ChartOutcome>,
      arrivals: number
    ) {
      let handled = 0
      let index = 0
      // Rows a pack's scan already settled (expired, deferred, found delivered) beyond the message it sent.
      const settledInScan = new Set<number>()
      const passed = new Set<string>()
      while (index < rows.length) {
        if ((yield* Ref.get(sinkUnavailable)) || (yield* Deferred.isDone(stopping))) break
        const row = rows[index]!
        if (settledInScan.has(row.id)) {
          handled += 1
          index += 1
        } else if (!(yield* routeClear(row, passed))) {
          // Left pending, as are the route's later rows: they go in order once its webhook may send.
          index += 1
        } else if (unpackable.has(row.id) || !(yield* shouldPack(rows.length - index))) {
          handled += 1
          index += 1
          if (!(yield* deliver(row, chartAt(index - 1), arrivals)) && !(yield* routeHeldUp(row, passed))) break
        } else {
          // The next rows in `due` order that are cleared to go, up to a message's worth.
          const ready: Array<Ready & { readonly index: number }> = []
          const tickers = new Map<string, number>()
          let scanned = index
          while (scanned < rows.length && ready.length < maxPerMessage && !unpackable.has(rows[scanned]!.id)) {
            const at = scanned
            const candidate = rows[at]!
            scanned += 1
            if (settledInScan.has(candidate.id)) continue
            const symbol = candidate.alert.ticker.symbol
            const prepared = yield* prepare(candidate, tickers.get(symbol) ?? 0)
            if (Option.isSome(prepared)) {
              ready.push({ ...prepared.value, index: at })
              tickers.set(symbol, (tickers.get(symbol) ?? 0) + 1)
            } else settledInScan.add(candidate.id)
          }
          const chartsOf = yield* Effect.forEach(
            ready,
            (entry) => withinChartWait(entry.row, chartAt(entry.index), "packed"),
            { concurrency: "unbounded" }
          )
          const take =
            ready.length <= 1 || packing === undefined
              ? ready.length
              : packing.fitting(ready.map((entry, i) => entryOf(entry, chartsOf[i]!.chart)))
          // Rows cleared but left out of this message are looked at again for the next one.
          const next = take < ready.length ? ready[take]!.index : scanned
          handled += next - index
          index = next
          if (take > 0) {
            // In outbox id order: a packed message's embeds follow its rows' ids.
            const group = ready
              .slice(0, take)
              .map((entry, i) => ({ entry, chart: chartsOf[i]! }))
              .sort((a, b) => a.entry.row.id - b.entry.row.id)
            const sent = yield* send(
              group.map(({ entry }) => entry),
              group.map(({ chart }) => chart)
            )
            if (!sent && !(yield* routeHeldUp(row, passed))) break
          }
        }
        // New alerts arrived: pick again, so a fresh one waits for one send, not for the rest of this batch.
        if ((yield* outbox.arrivalCount) !== arrivals) break
      }
      return handled
    })

    /** Routes the last batch held rows of: the next batch takes `batchSize` rows for each. */
    let routesLastBatch = 1
    /**
     * One batch of due rows. Each route's rows go on a fiber of their own: the routes' webhooks have
     * their own rate limits, so one route's request in flight never holds up another's window.
     * Returns how many rows it handled.
     */
    const drainOnce = Effect.fn("Delivery.drainOnce")(function* () {
      if ((yield* Ref.get(sinkUnavailable)) || (yield* Deferred.isDone(stopping))) return 0
      const arrivals = yield* outbox.arrivalCount
      // A batch's worth per route the last batch held: shared among five routes, 25 rows made each route's
      // messages carry five alerts, not the ten a backlog may pack, and so took twice the windows.
      const rows = yield* outbox.due(batchSize * routesLastBatch, yield* deliverable, yield* stillWaiting)
      notePicked(rows, yield* Clock.currentTimeMillis)
      // Charts for the next rows render while this one waits for its rate-limit slot, a few at a
      // time (as many as there are chart workers), so sends stay in order but never wait on a chart.
      const lookahead = yield* Effect.makeSemaphore(chartSettings.workers)
      const upcoming = yield* Effect.forEach(rows, (row) => Effect.fork(lookahead.withPermits(1)(chartFor(row))))
      const byRoute = new Map<string, Array<number>>()
      rows.forEach((row, index) => byRoute.set(row.route, [...(byRoute.get(row.route) ?? []), index]))
      routesLastBatch = Math.max(1, byRoute.size)
      const handled = yield* Effect.forEach(
        [...byRoute.values()],
        (indices) =>
          drainRoute(
            indices.map((index) => rows[index]!),
            (at) => upcoming[indices[at]!]!,
            arrivals
          ),
        { concurrency: "unbounded" }
      )
      yield* Fiber.interruptAll(upcoming)
      return handled.reduce((sum, count) => sum + count, 0)
    })

    /**
     * After a crash: rows left in flight are parked as uncertain, and the admin channel hears of them.
     * A sink that can read back what it delivered queues them again instead: each is then looked for
     * in the channel and sent only if it isn't there.
     */
    const recover = Effect.fn("Delivery.recover")(function* (taken?: {
      readonly route: string
      readonly epoch: number
    }) {
      const parked = yield* outbox.parkInFlight(taken)
      if (parked.length === 0) return
      if (sink.findDelivered !== undefined) {
        yield* outbox.requeue(parked.map((row) => row.id))
        yield* Effect.logWarning(
          `${parked.length} alert(s) were in flight when the last process stopped; checking the channel before sending them again`
        )
        return
      }
      const list = parked.map((row) => `• ${row.alert.ticker.symbol}: ${row.alert.item.title}`).join("\n")
      yield* Effect.logWarning(`${parked.length} alert(s) were in flight when the last process stopped; not re-sent`)
      yield* admin.notify({
        key: "uncertain-deliveries",
        title: `${parked.length} alert(s) may or may not have been delivered`,
        detail: `They were in flight when the previous process stopped; not re-sent to avoid duplicates.\n${list}`
      })
    })

    const idle = Effect.flatMap(idleFor, (wait) => Effect.raceFirst(outbox.awaitWork, Effect.sleep(wait)))

    /** Drains until every alert enqueued after `afterId` is delivered or given up on, or `timeout` passes. */
    const awaitSettled = Effect.fn("Delivery.awaitSettled")(function* (afterId: number, timeout: Duration.Duration) {
      const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(timeout)
      while (true) {
        const counts = yield* outbox.counts(afterId)
        const open = counts.pending + counts.sending
        const now = yield* Clock.currentTimeMillis
        if (open === 0 || (yield* Ref.get(sinkUnavailable))) return summarise(counts, false)
        if (now >= deadline) return summarise(counts, true)
        const handled = yield* drainOnce()
        // Waking when a rate-limited route may send again, not at the next 100 ms tick, keeps its window full.
        const wait = Math.min(100, deadline - now, Duration.toMillis(yield* idleFor))
        if (handled === 0) yield* Effect.sleep(Duration.millis(wait))
      }
    })

    /** Most polls find nothing; checking untraced keeps Jaeger from filling with an empty trace per second. */
    const anythingDue = Effect.flatMap(Effect.all([deliverable, stillWaiting]), ([routes, waiting]) =>
      outbox.due(1, routes, waiting)
    ).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.withTracerEnabled(false)
    )

    const loop = anythingDue.pipe(
      Effect.flatMap((due) => (due ? drainOnce() : Effect.succeed(0))),
      Effect.flatMap((handled) => (handled > 0 ? Effect.void : idle)),
      database.guardStep("delivery loop"),
      Effect.repeat(Schedule.forever)
    )

    /**
     * Cluster mode: this runner now holds `route`. Sends the previous holder still has in flight (a
     * live runner handing over) are waited for, up to a request's timeout and the shutdown grace; rows
     * left in flight by a runner that is gone are recovered as after a crash. Then the route's rows go.
     */
    const adoptRoute = Effect.fn("Delivery.adoptRoute")(function* (route: string) {
      adopting.add(route)
      const epoch = yield* owners.take(routeWork(route))
      const deadline = (yield* Clock.currentTimeMillis) + answerWaitMs + graceSeconds * 1000
      while ((yield* Clock.currentTimeMillis) < deadline) {
        const live = yield* owners.liveRunners
        const handing = yield* outbox.inFlightElsewhere(route, epoch)
        if (!handing.some((runner) => runner !== owners.runner && live.has(runner))) break
        yield* Effect.sleep("200 millis")
      }
      yield* recover({ route, epoch })
      adopting.delete(route)
      yield* outbox.wake
    })

    /** Cluster mode: `route` went to another runner; its sends in flight here get their answer first. */
    const letGoRoute = Effect.fn("Delivery.letGoRoute")(function* (route: string) {
      yield* owners.release(routeWork(route))
      const deadline = (yield* Clock.currentTimeMillis) + answerWaitMs + graceSeconds * 1000
      while ((inFlight.get(route) ?? 0) > 0 && (yield* Clock.currentTimeMillis) < deadline) {
        yield* Effect.sleep("50 millis")
      }
    })

    return { drainOnce, recover, awaitSettled, loop, adoptRoute, letGoRoute, clustered: owners.clustered } as const
  }).pipe(Effect.annotateLogs("module", "Delivery")),
  dependencies: [
    AppConfig.Default,
    Outbox.Default,
    ChartRenderer.Default,
    AdminChannel.Default,
    ErrorTracker.Default,
    AlertLatency.Default,
    EditOutbox.Default,
    WorkOwners.Default,
    DatabaseWatch.Default,
    SqlLive
  ]
}) {}

/** The long-lived delivery fiber: separate from polling, so a slow sink never stalls a cycle. */
export const DeliveryWorker = Layer.scopedDiscard(
  Effect.gen(function* () {
    const delivery = yield* Delivery
    // In cluster mode rows in flight are recovered per route, by the runner that takes the route over.
    if (!delivery.clustered) yield* delivery.recover()
    yield* Effect.forkScoped(delivery.loop)
  }).pipe(Effect.annotateLogs("module", "Delivery"))
)
