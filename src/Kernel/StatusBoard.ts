import { Effect, Ref } from "effect"

/**
 * Latest state each stage wants operators to see (LLM budget, Discord rate-limit headroom, …),
 * keyed by a fixed name per stage, so /health and the heartbeat can show it without every
 * stage depending on the health server. One entry per key: it can't grow without bound.
 */
export class StatusBoard extends Effect.Service<StatusBoard>()("Kernel/StatusBoard", {
  effect: Effect.gen(function* () {
    const entries = yield* Ref.make<ReadonlyMap<string, unknown>>(new Map())
    return {
      set: (key: string, value: unknown) => Ref.update(entries, (map) => new Map(map).set(key, value)),
      snapshot: Effect.map(Ref.get(entries), (map) => Object.fromEntries(map))
    } as const
  })
}) {}
