import { Cause, Clock, Data, Duration, Effect, Exit, Ref, SynchronizedRef } from "effect"
import { AdminChannel } from "./AdminChannel.js"

export type BreakerState =
  | { readonly _tag: "Closed"; readonly consecutiveFailures: number }
  | { readonly _tag: "Open"; readonly until: number; readonly opened: number; readonly lastError: string }
  | { readonly _tag: "HalfOpen"; readonly opened: number; readonly lastError: string }

export class BreakerOpen extends Data.TaggedError("BreakerOpen")<{
  readonly breaker: string
  readonly retryAt: number
  readonly lastError: string
}> {
  override get message() {
    return `${this.breaker} is paused after repeated failures (last: ${this.lastError}); next probe at ${new Date(this.retryAt).toISOString()}`
  }
}

export interface BreakerOptions {
  readonly name: string
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number
  /** How long the first opening lasts; each failed probe doubles it, up to `maxBackoff`. */
  readonly backoff: Duration.DurationInput
  readonly maxBackoff: Duration.DurationInput
}

export interface CircuitBreaker {
  readonly name: string
  /** Runs `effect` unless the breaker is open; a half-open breaker lets exactly one probe through. */
  readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpen, R>
  readonly state: Effect.Effect<BreakerState>
}

const describeError = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string"
    ? error.message
    : String(error)

/**
 * Every circuit breaker in the process, by name, so /health can list them and each opening or
 * recovery reaches the admin channel exactly once, never every cycle.
 */
export class Breakers extends Effect.Service<Breakers>()("Kernel/Breakers", {
  effect: Effect.gen(function* () {
    const admin = yield* AdminChannel
    const registry = yield* Ref.make<ReadonlyMap<string, CircuitBreaker>>(new Map())

    const make = Effect.fn("Breakers.make")(function* (options: BreakerOptions) {
      const state = yield* SynchronizedRef.make<BreakerState>({ _tag: "Closed", consecutiveFailures: 0 })
      const backoffMillis = (opened: number) =>
        Math.min(
          Duration.toMillis(options.backoff) * 2 ** Math.max(0, opened - 1),
          Duration.toMillis(options.maxBackoff)
        )

      const onSuccess = SynchronizedRef.updateEffect(state, (current) =>
        current._tag === "Closed"
          ? Effect.succeed<BreakerState>({ _tag: "Closed", consecutiveFailures: 0 })
          : admin
              .notify({
                key: `breaker:${options.name}`,
                title: `${options.name} recovered`,
                detail: "the probe succeeded"
              })
              .pipe(Effect.as<BreakerState>({ _tag: "Closed", consecutiveFailures: 0 }))
      )

      const onFailure = (error: unknown) =>
        SynchronizedRef.updateEffect(state, (current) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const lastError = describeError(error)
            if (current._tag === "Closed" && current.consecutiveFailures + 1 < options.failureThreshold) {
              return { _tag: "Closed", consecutiveFailures: current.consecutiveFailures + 1 } as const
            }
            const opened = current._tag === "Closed" ? 1 : current.opened + 1
            const until = now + backoffMillis(opened)
            if (current._tag === "Closed") {
              yield* admin.notify({
                key: `breaker:${options.name}`,
                title: `${options.name} is failing`,
                detail: `${options.failureThreshold} consecutive failures, last: ${lastError}. Probing again at ${new Date(until).toISOString()}, backing off up to ${Duration.format(options.maxBackoff)}.`
              })
            }
            return { _tag: "Open", until, opened, lastError } as const
          })
        )

      /** An interrupted probe proves nothing: let the next call probe again. */
      const onInterrupt = SynchronizedRef.update(state, (current) =>
        current._tag === "HalfOpen" ? ({ ...current, _tag: "Open", until: 0 } as const) : current
      )

      /** Decides, atomically, whether this call may run: open → reject, expired open → one probe. */
      const admit = SynchronizedRef.modifyEffect(state, (current) =>
        Effect.map(Clock.currentTimeMillis, (now): readonly [BreakerOpen | null, BreakerState] => {
          if (current._tag === "Open" && now >= current.until) {
            return [null, { _tag: "HalfOpen", opened: current.opened, lastError: current.lastError }]
          }
          if (current._tag === "Open") {
            return [
              new BreakerOpen({ breaker: options.name, retryAt: current.until, lastError: current.lastError }),
              current
            ]
          }
          if (current._tag === "HalfOpen") {
            return [new BreakerOpen({ breaker: options.name, retryAt: now, lastError: current.lastError }), current]
          }
          return [null, current]
        })
      )

      const breaker: CircuitBreaker = {
        name: options.name,
        state: SynchronizedRef.get(state),
        protect: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.flatMap(admit, (rejection): Effect.Effect<A, E | BreakerOpen, R> =>
            rejection !== null
              ? Effect.fail(rejection)
              : effect.pipe(
                  Effect.onExit((exit) =>
                    Exit.isSuccess(exit)
                      ? onSuccess
                      : Cause.isInterruptedOnly(exit.cause)
                        ? onInterrupt
                        : onFailure(Cause.squash(exit.cause))
                  )
                )
          )
      }
      yield* Ref.update(registry, (map) => new Map(map).set(options.name, breaker))
      return breaker
    })

    const states = Effect.flatMap(Ref.get(registry), (map) =>
      Effect.forEach(Array.from(map.values()), (breaker) =>
        Effect.map(breaker.state, (state) => ({ name: breaker.name, state }))
      )
    )

    return { make, states } as const
  }),
  dependencies: [AdminChannel.Default]
}) {}
