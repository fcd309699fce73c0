import { Clock, Duration, Effect, TestServices } from "effect"

/**
 * Waits until `condition` holds, polling on the live clock: for what a TestClock test can't advance itself, such as
 * a local server receiving a request. Gives up (dies, naming `what`) after `limit` of real time.
 */
export const eventually = (what: string, condition: () => boolean, limit: Duration.DurationInput = "10 seconds") =>
  Effect.gen(function* () {
    const giveUpAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(limit)
    while (!condition()) {
      if ((yield* Clock.currentTimeMillis) > giveUpAt) return yield* Effect.dieMessage(`gave up waiting for ${what}`)
      yield* Effect.sleep("5 millis")
    }
  }).pipe(TestServices.provideLive)
