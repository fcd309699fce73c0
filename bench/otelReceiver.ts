import { Effect } from "effect"
import * as FakeOtlp from "../src/World/FakeOtlp.js"

/** The fake OTLP receiver in a process of its own, as Jaeger would be: prints its URL, runs until stdin closes. */
Effect.runFork(
  Effect.scoped(
    Effect.gen(function* () {
      const otlp = yield* FakeOtlp.make()
      process.stdout.write(`${otlp.url}\n`)
      yield* Effect.async<void>((resume) => {
        process.stdin.resume()
        process.stdin.on("end", () => resume(Effect.void))
      })
    })
  )
)
