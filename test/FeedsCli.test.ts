import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import * as Layers from "../src/App/Layers.js"
import { inspectFeed } from "../src/Feeds/Inspect.js"
import { tempDataConfig } from "./support/TestLayers.js"

const root = fileURLToPath(new URL("..", import.meta.url))

const parse = (...args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/main.ts", "parse", ...args],
      { cwd: root, env: { ...process.env, DATA_DIR: ":memory:", SEC_USER_AGENT: "" } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
    )
  })

describe("catalyst-bot parse", () => {
  it("prints one normalised item per line, with exactly the documented fields", async () => {
    const [good, notFeed] = await Promise.all([
      parse("test/fixtures/feeds/globenewswire.rss", "--kind", "rss"),
      parse("test/fixtures/feeds/not-a-feed.html")
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
    expect(notFeed.stderr.trim()).toBe("test/fixtures/feeds/not-a-feed.html: not a feed: Unrecognized feed format")
  })

  it.effect("names an unreadable input in one line", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(inspectFeed("test/fixtures/feeds/does-not-exist.xml", "auto"))
      expect(error.message).toMatch(/^can't read test\/fixtures\/feeds\/does-not-exist.xml: ENOENT/)
      expect(error.message).not.toContain("\n")
    }).pipe(Effect.provide(Layers.ParseLive), Effect.provide(tempDataConfig()))
  )
})
