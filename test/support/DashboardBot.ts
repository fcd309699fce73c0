import { Duration, Effect, Exit, Layer, Scope } from "effect"
import { Delivery } from "../../src/Delivery/Delivery.js"
import { Runner } from "../../src/Runner/Runner.js"
import * as World from "../../src/World/World.js"
import { freePort } from "./Cli.js"
import { worldBot } from "./WorldBot.js"

/**
 * The simulated world and the bot as `run` composes it (minus the loops: the test steps the cycles),
 * with the health server, and so the dashboard, on a free loopback port.
 */
export const startDashboardBot = async (
  overrides: (world: World.World) => Record<string, string | number> = () => ({})
) => {
  const scope = Effect.runSync(Scope.make())
  try {
    const world = await Effect.runPromise(Scope.extend(World.make(), scope))
    const port = await freePort()
    const context = await Effect.runPromise(
      Layer.buildWithScope(worldBot(world, { HEALTH_PORT: port, ...overrides(world) }), scope)
    )
    const run = <A, E>(effect: Effect.Effect<A, E, Runner | Delivery>) =>
      Effect.runPromise(Effect.provide(effect, context))
    /** One cycle over every source, then delivery of what it queued. */
    const cycle = () =>
      run(
        Effect.gen(function* () {
          yield* (yield* Runner).runCycle
          return yield* (yield* Delivery).awaitSettled(0, Duration.seconds(20))
        })
      )
    return {
      world,
      run,
      url: `http://127.0.0.1:${port}`,
      cycle,
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}

export type DashboardBot = Awaited<ReturnType<typeof startDashboardBot>>
