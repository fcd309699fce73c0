import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import * as Layers from "../src/App/Layers.js"
import { inspectFeed } from "../src/Feeds/Inspect.js"
import { runCli } from "./support/Cli.js"
import { tempDataConfig } from "./support/TestLayers.js"

const fixture = (name: string) => join(import.meta.dirname, "fixtures/feeds", name)

const parse = (...args: ReadonlyArray<string>) => runCli(["parse", ...args], { DATA_DIR: ":memory:" })

describe("catalyst-bot parse", () => {
  it("prints one normalised item per line, with exactly the documented fields", async () => {
    const [good, notFeed] = await Promise.all([
      parse(fixture("globenewswire.rss"), "--kind", "rss"),
      parse(fixture("not-a-feed.html"))
    ])
    expect(good.code).toBe(0)
    const items = good.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(items).toHaveLength(3)
    expect(Object.keys(items[0] ?? {})).toEqual([
      "id",
      "source",
      "kind",
      "title",
      "summary",
      "link",
      "published",
      "fetchedAt",
      "tickers"
    ])

    expect(notFeed.code).not.toBe(0)
    expect(notFeed.stdout).toBe("")
    expect(notFeed.stderr.trim()).toBe(`${fixture("not-a-feed.html")}: not a feed: Unrecognized feed format`)
  }, 120_000)

  it.effect("names an unreadable input in one line", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(inspectFeed("test/fixtures/feeds/does-not-exist.xml", "auto"))
      expect(error.message).toMatch(/^can't read test\/fixtures\/feeds\/does-not-exist.xml: ENOENT/)
      expect(error.message).not.toContain("\n")
    }).pipe(Effect.provide(Layers.ParseLive), Effect.provide(tempDataConfig()))
  )
})
