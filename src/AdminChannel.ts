import { Effect } from "effect"

export interface AdminEvent {
  /** Groups repeats of the same condition, e.g. `feed-outage:GlobeNewswire`. */
  readonly key: string
  readonly title: string
  readonly detail: string
}

/** Operator-facing notices: outages, recoveries, breaker changes, budget alerts, heartbeats. */
export class AdminChannel extends Effect.Service<AdminChannel>()("Delivery/AdminChannel", {
  succeed: {
    notify: Effect.fn("AdminChannel.notify")(function* (event: AdminEvent) {
      yield* Effect.logWarning(`[admin] ${event.title}: ${event.detail}`).pipe(Effect.annotateLogs("admin", event.key))
    })
  }
}) {}
