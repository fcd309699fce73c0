import { ConfigProvider, type Context, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A layer for `tag` built from the methods a test cares about; calling anything it didn't stub
 * dies loudly with the method's name, instead of silently returning undefined.
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

/** Configuration from a plain record, exactly as the environment would give it. */
export const configLayer = (values: Record<string, string | number | boolean>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values).map(([k, v]) => [k, String(v)]))))

/** A fresh directory for a test's SQLite file, removed when the scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "catalyst-bot-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Config pointing DATA_DIR at a scoped temp directory, plus any overrides. */
export const tempDataConfig = (values: Record<string, string | number | boolean> = {}) =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => configLayer({ DATA_DIR: dir, ...values })))
