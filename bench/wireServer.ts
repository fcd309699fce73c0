import { Effect } from "effect"
import * as FakeWire from "../src/World/FakeWire.js"

/**
 * The fake wire in a process of its own, as the real wires are other machines: serves `count` feeds of `items`
 * GlobeNewswire items each after `latencyMs`, prints their URLs as one JSON line, runs until stdin closes.
 */
const [count = 50, items = 20, latencyMs = 200] = process.argv.slice(2).map(Number)
Effect.runFork(
  Effect.scoped(
    Effect.gen(function* () {
      const now = Date.now()
      const names = Array.from({ length: count }, (_, i) => `wire-${i}`)
      const wire = yield* FakeWire.make(
        Object.fromEntries(
          names.map((name, i) => [
            name,
            { body: FakeWire.globeNewswireRss(FakeWire.sampleWireItems(items, { now, prefix: `W${i}` })), latencyMs }
          ])
        )
      )
      process.stdout.write(`${JSON.stringify(names.map((name) => wire.feedUrl(name)))}\n`)
      yield* Effect.async<void>((resume) => {
        process.stdin.resume()
        process.stdin.on("end", () => resume(Effect.void))
      })
    })
  )
)
