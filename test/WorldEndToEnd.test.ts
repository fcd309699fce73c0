import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as World from "../src/World/World.js"
import { spawnCli } from "./support/Cli.js"

describe("the real-world path, end to end", () => {
  it.live(
    "one story on two wires yields exactly one Discord message, through real RSS parsing",
    () =>
      Effect.gen(function* () {
        const world = yield* World.make()
        // GlobeNewswire and PR Newswire serve different RSS dialects (PR Newswire's without namespace declarations).
        const [story] = world.publish([
          { company: World.companies[3]!, kind: "clinical_results", wires: ["GlobeNewswire", "PR Newswire"] }
        ])
        const result = yield* Effect.promise(() => spawnCli(["once"], world.env).exited)
        expect(result.code, result.stderr).toBe(0)
        const titles = world
          .alerts()
          .map((message) => (message.payload["embeds"] as Array<{ title: string }>)[0]!.title)
        expect(titles).toEqual([`${story!.ticker} (NASDAQ) — ${story!.title}`])
        // Both wires were fetched and parsed; the second copy was recognised as the same story.
        expect(result.stdout).toMatch(/feed GlobeNewswire: ok: 1 items, 1 fresh/)
        expect(result.stdout).toMatch(/feed PR Newswire: ok: 1 items, 1 fresh/)
        expect(result.stdout).toMatch(/duplicate +(GlobeNewswire|PR Newswire): .* — same story first carried by/)
      }).pipe(Effect.scoped),
    180_000
  )
})
