import { Sharding } from "@effect/cluster/Sharding"
import { Effect, Layer } from "effect"
import { routeWork } from "../Kernel/WorkOwners.js"
import { Delivery } from "./Delivery.js"
import { FollowUp } from "./FollowUp.js"
import { Routes } from "./Routes.js"

/**
 * Cluster mode: each route's delivery (its webhook) is a cluster singleton (`route:<name>`). The runner
 * holding it takes the route's fencing epoch and recovers what the previous holder left in flight
 * (Delivery.adoptRoute); on losing it, its sends in flight are answered before the route is let go.
 * The delivery loop of every runner only sends the rows of the routes it holds.
 */
export const ClusterRoutes = Layer.scopedDiscard(
  Effect.gen(function* () {
    const sharding = yield* Sharding
    const delivery = yield* Delivery
    const { routes } = yield* Routes
    for (const { name } of routes) {
      yield* sharding.registerSingleton(
        routeWork(name),
        Effect.gen(function* () {
          yield* Effect.addFinalizer(() => delivery.letGoRoute(name))
          yield* delivery.adoptRoute(name)
        })
      )
    }
  }).pipe(Effect.annotateLogs("module", "Delivery"))
)

/** Cluster mode: LLM verdicts and message edits run on one runner at a time (`follow-ups`). */
export const ClusterFollowUps = Layer.scopedDiscard(
  Effect.gen(function* () {
    const sharding = yield* Sharding
    const followUp = yield* FollowUp
    yield* sharding.registerSingleton(
      "follow-ups",
      Effect.gen(function* () {
        yield* Effect.forkScoped(followUp.enrichLoop)
        yield* Effect.forkScoped(followUp.editLoop)
      })
    )
  })
)
