import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as FakeOtlp from "../src/World/FakeOtlp.js"
import * as World from "../src/World/World.js"
import { spawnCli, spawnMain } from "./support/Cli.js"
import { tempDir } from "./support/TestLayers.js"

const canaryKey = "sk-canary-7d41c9e0b2"
const canaryToken = "canary-token-7d41c9e0b2"
const canaryService = "canary-service-7d41c9e0b2"

/** Runs `start` with the test process in `dir` and `values` in its environment, as a developer's shell would be. */
const fromDeveloperShell = <A>(dir: string, values: Record<string, string>, start: () => A): A => {
  const cwd = process.cwd()
  const saved = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]))
  process.chdir(dir)
  Object.assign(process.env, values)
  try {
    return start()
  } finally {
    process.chdir(cwd)
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

describe("a spawned bot is sealed off from the developer's machine", () => {
  it.live(
    "a .env of real-looking values in the directory the tests run from, and in their shell, changes nothing",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        const otlp = yield* FakeOtlp.make()
        const [story] = world.publish([
          { company: World.companies[0]!, kind: "clinical_results", wires: ["GlobeNewswire"] }
        ])

        // What a developer who followed the README has: a webhook, an LLM key, tracing, their own feeds.
        const developer: Record<string, string> = {
          ...world.env,
          DISCORD_WEBHOOK_URL: world.env.DISCORD_WEBHOOK_URL!.replace(/[^/]+$/, canaryToken),
          LLM_API_KEY: canaryKey,
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
          OTEL_SERVICE_NAME: canaryService,
          ALERTS_STDOUT_FORMAT: "json",
          // No quotes, so no charts: neither is what this test is about.
          MARKET_DATA_PROVIDER: "none"
        }
        const repository = yield* tempDir
        writeFileSync(
          join(repository, ".env"),
          Object.entries(developer)
            .map(([key, value]) => `${key}=${value}`)
            .join("\n") + "\n"
        )

        // The test names its own feeds; everything else is the helper's.
        const bot = fromDeveloperShell(repository, developer, () =>
          spawnCli(["once"], { FEEDS_FILE: world.env.FEEDS_FILE!, MARKET_DATA_PROVIDER: "none" })
        )
        const sealed = yield* Effect.promise(() => bot.exited)
        expect(sealed.code, sealed.stderr).toBe(0)
        // The alert went to stdout as a card: no webhook, no JSON format, no LLM, no traces.
        expect(sealed.stdout).toContain(`━━ ${story!.ticker} (`)
        expect(sealed.stdout).toContain(story!.title)
        expect(sealed.stdout).toContain("note: LLM off (LLM_PROVIDER=none)")
        expect(world.discord.requests).toEqual([])
        expect(world.llm.callCount()).toBe(0)
        expect(yield* otlp.requests).toEqual([])
        for (const canary of [canaryKey, canaryToken, canaryService]) {
          expect(sealed.stdout + sealed.stderr).not.toContain(canary)
        }

        // Control: the same bot started the old way, in that directory, does use every value.
        const control = yield* Effect.promise(() => spawnMain(["once"], { cwd: repository, env: {} }).exited)
        expect(control.code, control.stderr).toBe(0)
        expect(world.alerts().map((alert) => JSON.stringify(alert.payload))).toEqual([
          expect.stringContaining(story!.title)
        ])
        expect(world.llm.callCount()).toBeGreaterThan(0)
        expect((yield* otlp.spans).some((span) => span.serviceName === canaryService)).toBe(true)
      }).pipe(Effect.scoped),
    240_000
  )
})
