import { type Context, Effect, Layer } from "effect"

/**
 * A layer for `tag` built from the methods a test cares about; calling anything it didn't stub
 * dies loudly with the method's name, instead of silently returning undefined. Services expose it
 * as `static Test`.
 */
export const makeTestLayer =
  <I, S extends object>(tag: Context.Tag<I, S>) =>
  (service: Partial<S>): Layer.Layer<I> =>
    Layer.succeed(
      tag,
      new Proxy(service as S, {
        get(target, property) {
          if (property in target) return target[property as keyof S]
          if (property === "then") return undefined
          const name = `${tag.key}.${String(property)}`
          const missing = Effect.dieMessage(`${name} is not implemented in this test`)
          return Object.assign(() => missing, missing)
        }
      })
    )
