import { Effect, Option, Ref, Schema } from "effect"

/** One entry of the board: its key and the schema of what its publisher puts there. */
export interface StatusEntry<A, I> {
  readonly key: string
  readonly schema: Schema.Schema<A, I>
}

/** Declared next to the publisher, so readers get the publisher's type and a renamed field fails to compile. */
export const StatusEntry = <A, I>(key: string, schema: Schema.Schema<A, I>): StatusEntry<A, I> => ({ key, schema })

/**
 * Latest state each stage wants operators to see (LLM budget, Discord rate-limit headroom, …),
 * one entry per stage, so /health and the heartbeat can show it without every stage depending on
 * the health server. One value per key: it can't grow without bound.
 */
export class StatusBoard extends Effect.Service<StatusBoard>()("Kernel/StatusBoard", {
  effect: Effect.gen(function* () {
    /** Encoded values: the snapshot is what /health serves, and `get` decodes with the entry's own schema. */
    const entries = yield* Ref.make<ReadonlyMap<string, unknown>>(new Map())

    // Plain generic functions: Effect.fn would erase the entry's type parameters.
    const set = <A, I>(entry: StatusEntry<A, I>, value: NoInfer<A>): Effect.Effect<void> =>
      Schema.encode(entry.schema)(value).pipe(
        Effect.orDie,
        Effect.flatMap((encoded) => Ref.update(entries, (map) => new Map(map).set(entry.key, encoded)))
      )

    const get = <A, I>(entry: StatusEntry<A, I>): Effect.Effect<Option.Option<A>> =>
      Effect.map(Ref.get(entries), (map) =>
        map.has(entry.key) ? Schema.decodeUnknownOption(entry.schema)(map.get(entry.key)) : Option.none()
      )

    const snapshot: Effect.Effect<Readonly<Record<string, unknown>>> = Effect.map(Ref.get(entries), (map) =>
      Object.fromEntries(map)
    )

    return { set, get, snapshot } as const
  })
}) {}
