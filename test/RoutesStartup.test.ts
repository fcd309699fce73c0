import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { runCli } from "./support/Cli.js"
import { tempDir } from "./support/TestLayers.js"

const hook = (n: number) => `https://discord.com/api/webhooks/${n}/secret-token-${n}`

describe("a bad ROUTES_FILE at start-up", () => {
  it.live(
    "exits non-zero with one line per problem naming the file, the route and the field, and no webhook token",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const path = join(dir, "routes.json")
        writeFileSync(
          path,
          JSON.stringify({
            routes: [
              { name: "fda", webhook: hook(1), match: { categories: ["fda_aproval"], forms: ["8-Q"] } },
              { name: "fda", webhook: hook(2) }
            ]
          })
        )
        const result = yield* Effect.promise(() => runCli(["run"], { ROUTES_FILE: path }))
        expect(result.code).not.toBe(0)
        const output = result.stdout + result.stderr
        for (const problem of [
          `${path}: routes[0] "fda", field match.categories[0]: unknown category "fda_aproval"`,
          `${path}: routes[0] "fda", field match.forms[0]: unknown form "8-Q"`,
          `${path}: routes[1] "fda", field name: duplicate route name`
        ])
          expect(output).toContain(problem)
        expect(output).not.toContain("secret-token")
        expect(output).not.toMatch(/\n\s+at /) // no stack trace

        writeFileSync(
          path,
          JSON.stringify({ routes: [{ name: "fda", webhook: "discord.com/api/webhooks/1/secret-token-1", colour: 1 }] })
        )
        const shape = yield* Effect.promise(() => runCli(["run"], { ROUTES_FILE: path }))
        expect(shape.code).not.toBe(0)
        const shapeOutput = shape.stdout + shape.stderr
        expect(shapeOutput).toContain(`${path}: routes[0] "fda", field colour: `)
        expect(shapeOutput).toContain(`${path}: routes[0] "fda", field webhook: Expected an http(s) webhook URL`)
        expect(shapeOutput).not.toContain("secret-token")
      }).pipe(Effect.scoped),
    240_000
  )
})
