import { describe, expect, it } from "@effect/vitest"
import { Effect, FiberRef } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { dotEnvLayer } from "../src/App/Layers.js"
import { AppConfig, describeConfigError, dotEnvSource } from "../src/Kernel/AppConfig.js"

/** Builds the configuration the way the CLI does: the environment first, then the `.env` at `path`. */
const configErrorsWith = (path: string) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(AppConfig.pipe(Effect.provide(AppConfig.Default)))
    return describeConfigError(error as never, yield* FiberRef.get(dotEnvSource))
  }).pipe(Effect.provide(dotEnvLayer(path)))

describe("values from .env", () => {
  it.effect("an invalid value is reported as coming from .env, without a false 'is required'", () =>
    Effect.gen(function* () {
      const path = join(mkdtempSync(join(tmpdir(), "dotenv-")), ".env")
      writeFileSync(path, "POLL_SECONDS=abc\nMAX_SEC_FILING_AGE_MINUTES=-5\n")
      const lines = yield* configErrorsWith(path)
      expect(lines.some((line) => line.includes("is required"))).toBe(false)
      expect(lines).toHaveLength(2)
      expect(lines.find((line) => line.startsWith("POLL_SECONDS:"))).toMatch(/abc.*\(set in .*\.env\)$/)
      expect(lines.find((line) => line.startsWith("MAX_SEC_FILING_AGE_MINUTES:"))).toContain(`(set in ${path})`)
    })
  )

  it.effect("the source says which .env was looked for, and whether it was there", () =>
    Effect.gen(function* () {
      const path = join(mkdtempSync(join(tmpdir(), "dotenv-")), ".env")
      const source = yield* FiberRef.get(dotEnvSource).pipe(Effect.provide(dotEnvLayer(path)))
      expect(source).toEqual({ path, found: false, keys: new Set() })
    })
  )
})
