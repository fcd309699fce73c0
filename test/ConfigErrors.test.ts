import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { join } from "node:path"
import { loadFile } from "../src/Classification/Keywords.js"
import { CikTickers } from "../src/Feeds/CikTickers.js"
import { inspectFeed } from "../src/Feeds/Inspect.js"
import { loadSources } from "../src/Feeds/Sources.js"
import { AppConfig, describeConfigError } from "../src/Kernel/AppConfig.js"
import { SecClient } from "../src/Kernel/SecClient.js"
import { runCli } from "./support/Cli.js"
import { tempDataConfig, tempDir } from "./support/TestLayers.js"

const writeJson = (name: string, value: unknown) =>
  Effect.map(tempDir, (dir) => {
    const path = join(dir, name)
    writeFileSync(path, JSON.stringify(value, null, 2))
    return path
  })

const feedsFileLines = (value: unknown) =>
  Effect.gen(function* () {
    const path = yield* writeJson("feeds.json", value)
    const error = yield* Effect.flip(loadSources({ feedsFile: path, secBaseUrl: "https://www.sec.gov" }))
    return { path, lines: describeConfigError(error) }
  })

describe("FEEDS_FILE problems", () => {
  it.scoped("one line per problem, naming the file, the entry and the field", () =>
    Effect.gen(function* () {
      const { path, lines } = yield* feedsFileLines([
        { name: "Good", url: "https://wire.local/rss", kind: "rss" },
        { name: "PR Wire", url: 5, kind: "rss" },
        { name: "Odd", url: "https://wire.local/odd", kind: "xml" },
        { url: "https://wire.local/nameless", kind: "rss" }
      ])
      expect(lines).toEqual([
        `FEEDS_FILE: ${path}: [1] "PR Wire", field url: Expected string, actual 5`,
        `FEEDS_FILE: ${path}: [2] "Odd", field kind: Expected "rss" | "atom" | "sec-atom", actual "xml"`,
        `FEEDS_FILE: ${path}: [3], field name: is missing`
      ])
    })
  )

  it.scoped("the extend form names its entries under feeds, and a bad mode by its field", () =>
    Effect.gen(function* () {
      const { path, lines } = yield* feedsFileLines({
        mode: "merge",
        feeds: [{ name: "Local", url: "https://wire.local/rss", kind: "rss", enabled: "yes" }]
      })
      expect(lines).toEqual([
        `FEEDS_FILE: ${path}: field mode: Expected "replace" | "extend", actual "merge"`,
        `FEEDS_FILE: ${path}: feeds[0] "Local", field enabled: Expected boolean, actual "yes"`
      ])
    })
  )

  it.scoped("a per-feed interval below the floor, or not a whole number of seconds, names the feed and field", () =>
    Effect.gen(function* () {
      const { path, lines } = yield* feedsFileLines({
        feeds: [
          { name: "Fast", url: "https://wire.local/fast", kind: "rss", pollSeconds: 0 },
          { name: "Odd", url: "https://wire.local/odd", kind: "rss", pollSecondsClosed: "soon" }
        ]
      })
      expect(lines).toEqual([
        `FEEDS_FILE: ${path}: feeds[0] "Fast", field pollSeconds: expected a whole number of seconds >= 1`,
        `FEEDS_FILE: ${path}: feeds[1] "Odd", field pollSecondsClosed: Expected number, actual "soon"`
      ])
    })
  )

  it.scoped("a valid per-feed interval is kept on the source", () =>
    Effect.gen(function* () {
      const path = yield* writeJson("feeds.json", {
        feeds: [{ name: "Fast", url: "https://wire.local/fast", kind: "rss", pollSeconds: 1, pollSecondsClosed: 30 }]
      })
      const sources = yield* loadSources({ feedsFile: path, secBaseUrl: "https://www.sec.gov" })
      expect(sources.find((source) => source.name === "Fast")).toMatchObject({ pollSeconds: 1, pollSecondsClosed: 30 })
    })
  )

  it.scoped("URL and duplicate problems are listed together, each naming the file", () =>
    Effect.gen(function* () {
      const { path, lines } = yield* feedsFileLines([
        { name: "A", url: "ftp://wire.local/a", kind: "rss" },
        { name: "A", url: "https://wire.local/a", kind: "rss" }
      ])
      expect(lines).toEqual([
        `FEEDS_FILE: ${path}: feed "A": url must be http(s), got ftp://wire.local/a`,
        `FEEDS_FILE: ${path}: feed name "A" appears twice`
      ])
    })
  )
})

describe("KEYWORDS_FILE problems", () => {
  it.scoped("one line per problem, naming the file, the category and the field", () =>
    Effect.gen(function* () {
      const path = yield* writeJson("keywords.json", {
        negations: ["no"],
        categories: [
          { name: "fda_approval", weight: 3, sentiment: 0.8, phrases: ["fda approval"] },
          { name: "offering", weight: -1, sentiment: -0.5, phrases: ["public offering", ""] },
          { name: "uplisting", weight: 1, sentiment: 2, phrases: [] }
        ]
      })
      const error = yield* Effect.flip(loadFile(path))
      expect(error.message.split("\n")).toEqual([
        `KEYWORDS_FILE ${path}: categories[1] "offering", field weight: Expected a positive number, actual -1`,
        `KEYWORDS_FILE ${path}: categories[1] "offering", field phrases[1]: Expected a non empty string, actual ""`,
        `KEYWORDS_FILE ${path}: categories[2] "uplisting", field sentiment: Expected a number between -1 and 1, actual 2`,
        `KEYWORDS_FILE ${path}: categories[2] "uplisting", field phrases[0]: is missing`
      ])
    })
  )
})

/** A loopback port nothing listens on. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

const inspect = (input: string) =>
  Effect.flip(inspectFeed(input, "auto")).pipe(
    Effect.provide(Layer.mergeAll(CikTickers.Default, SecClient.Default)),
    Effect.provide(Layer.mergeAll(AppConfig.Default, NodeHttpClient.layerUndici)),
    Effect.provide(tempDataConfig({ FEED_TIMEOUT_SECONDS: 5 }))
  )

describe("catalyst-bot parse, URL problems", () => {
  it.scoped("a malformed URL is an InspectError naming it, not a defect", () =>
    Effect.gen(function* () {
      const error = yield* inspect("http://exa mple/")
      expect(error._tag).toBe("InspectError")
      expect(error.message).toBe("http://exa mple/ is not a valid URL")
    })
  )

  it.scoped("a refused connection keeps its cause", () =>
    Effect.gen(function* () {
      const port = yield* closedPort
      const error = yield* inspect(`http://127.0.0.1:${port}/feed.xml`)
      expect(error.message).toBe(
        `can't fetch http://127.0.0.1:${port}/feed.xml: connect ECONNREFUSED 127.0.0.1:${port}`
      )
    })
  )

  it("the CLI prints one line and no stack trace for a malformed URL", async () => {
    const result = await runCli(["parse", "http://exa mple/"], { SEC_USER_AGENT: "" })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe("")
    expect(result.stderr.trim()).toBe("http://exa mple/ is not a valid URL")
  }, 120_000)
})
