import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FakeSec from "../src/World/FakeSec.js"
import * as FakeWire from "../src/World/FakeWire.js"

const get = (url: string) => Effect.promise(() => fetch(url).then((response) => response.text()))

// bench:latency measures publication → Discord from the moment setFeed / setFilings return.
describe("the fakes say when new content became visible", () => {
  it.scoped("FakeWire.setFeed returns the moment, on the clock of its request records", () =>
    Effect.gen(function* () {
      const wire = yield* FakeWire.make({ news: { body: "<rss>old</rss>" } })
      expect(yield* get(wire.feedUrl("news"))).toBe("<rss>old</rss>")
      const visibleAt = wire.setFeed("news", { body: "<rss>new</rss>" })
      expect(yield* get(wire.feedUrl("news"))).toBe("<rss>new</rss>")
      const [before, after] = wire.requests()
      expect(before!.at).toBeLessThanOrEqual(visibleAt)
      expect(after!.at).toBeGreaterThanOrEqual(visibleAt)
    })
  )

  it.scoped("FakeSec.setFilings returns the moment, on the clock of its request records", () =>
    Effect.gen(function* () {
      const sec = yield* FakeSec.make()
      const feed = `${sec.url}/cgi-bin/browse-edgar?action=getcurrent&type=8-K`
      expect(yield* get(feed)).not.toContain("0001900001-26-000001")
      const visibleAt = sec.setFilings([
        {
          form: "8-K",
          accession: "0001900001-26-000001",
          updated: "2026-12-01T10:00:00-05:00",
          parties: [{ company: "AURORA BIOLABS", cik: 1_900_001, role: "Filer" }]
        }
      ])
      expect(yield* get(feed)).toContain("0001900001-26-000001")
      const [before, after] = sec.requests()
      expect(before!.at).toBeLessThanOrEqual(visibleAt)
      expect(after!.at).toBeGreaterThanOrEqual(visibleAt)
    })
  )
})
