import { Effect, HashMap, Logger, LogLevel, Option, Queue } from "effect"
import type { Scrub } from "./Scrub.js"
import { Secrets } from "./Secrets.js"
import { makeTestLayer } from "./TestLayer.js"

export interface AdminEvent {
  /** Groups repeats of the same condition, e.g. `feed-outage:GlobeNewswire`. */
  readonly key: string
  readonly title: string
  readonly detail: string
}

export type AdminMessage =
  | { readonly _tag: "Notice"; readonly event: AdminEvent }
  | { readonly _tag: "Error"; readonly key: string; readonly message: string }

const scrubMessage = (scrub: Scrub, message: AdminMessage): AdminMessage =>
  message._tag === "Notice"
    ? {
        _tag: "Notice",
        event: { key: scrub(message.event.key), title: scrub(message.event.title), detail: scrub(message.event.detail) }
      }
    : { _tag: "Error", key: scrub(message.key), message: scrub(message.message) }

/**
 * Notices and errors on their way to the admin webhook, scrubbed of secrets on the way in.
 * Bounded, dropping the oldest.
 */
export class AdminQueue extends Effect.Service<AdminQueue>()("Kernel/AdminQueue", {
  effect: Effect.gen(function* () {
    const queue = yield* Queue.sliding<AdminMessage>(256)
    const { scrub } = yield* Secrets
    return {
      offer: (message: AdminMessage) => Queue.offer(queue, scrubMessage(scrub, message)),
      /** Callable from a logger. */
      unsafeOffer: (message: AdminMessage): void => {
        Queue.unsafeOffer(queue, scrubMessage(scrub, message))
      },
      take: Queue.take(queue)
    }
  }),
  dependencies: [Secrets.Default]
}) {}

/**
 * Operator-facing notices: outages, recoveries, breaker changes, budget alerts, heartbeats.
 * Every notice is logged; when DISCORD_ADMIN_WEBHOOK is set, `AdminChannel/Discord` also posts them
 * from the AdminQueue (deduplicated, throttled, errors as a digest). The queue is bounded and drops
 * the oldest, so a storm of notices can never grow memory or block the caller.
 */
export class AdminChannel extends Effect.Service<AdminChannel>()("Kernel/AdminChannel", {
  effect: Effect.gen(function* () {
    const queue = yield* AdminQueue
    return {
      notify: Effect.fn("AdminChannel.notify")(function* (event: AdminEvent) {
        yield* Effect.logWarning(`[admin] ${event.title}: ${event.detail}`).pipe(
          Effect.annotateLogs("admin", event.key)
        )
        yield* queue.offer({ _tag: "Notice", event })
      })
    } as const
  }),
  dependencies: [AdminQueue.Default]
}) {
  static readonly Test = makeTestLayer(AdminChannel)
}

/** Logs at Error level from every module (except the admin poster itself) feed the errors digest. */
export const AdminErrorLogger = Logger.addEffect(
  Effect.map(AdminQueue, (queue) =>
    Logger.make(({ logLevel, message, annotations }) => {
      if (LogLevel.lessThan(logLevel, LogLevel.Error)) return
      const module = Option.getOrUndefined(HashMap.get(annotations, "module"))
      if (module === "AdminChannel") return
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      const key = `${typeof module === "string" ? module : "app"}:${text.slice(0, 80)}`
      queue.unsafeOffer({ _tag: "Error", key, message: text })
    })
  )
)
