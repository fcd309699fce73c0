import { Sharding } from "@effect/cluster/Sharding"
import { Effect, Layer } from "effect"
import { pollerWork, WorkOwners } from "../Kernel/WorkOwners.js"
import { makePollers } from "./Pollers.js"

/**
 * Cluster mode: each source's poller is a cluster singleton (`poller:<source>`), run by exactly one
 * runner at a time and moved to another when that runner stops or loses its lease. Two runners
 * polling one source for a moment (a paused runner coming back) repeat nothing: items are marked seen
 * in the same transaction that queues their alerts.
 */
export const ClusterPollers = Layer.scopedDiscard(
  Effect.gen(function* () {
    const { sources, supervised } = yield* makePollers
    const sharding = yield* Sharding
    const owners = yield* WorkOwners
    for (const source of sources) {
      const work = pollerWork(source.name)
      yield* sharding.registerSingleton(
        work,
        Effect.gen(function* () {
          yield* owners.take(work)
          yield* Effect.addFinalizer(() => owners.release(work))
          yield* supervised(source)
        })
      )
    }
    yield* Effect.logInfo(`runner joined the cluster: ${sources.length} poller(s) shared out`).pipe(
      Effect.annotateLogs("module", "Runner")
    )
  })
)
