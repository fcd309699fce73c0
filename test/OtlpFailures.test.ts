import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, Metric } from "effect"
import { createServer } from "node:net"
import { encodePrometheus } from "../src/App/PrometheusText.js"
import { layerOtlp, otlpExportFailures } from "../src/Kernel/Tracing.js"
import * as FakeOtlp from "../src/World/FakeOtlp.js"

interface Line {
  readonly level: string
  readonly message: string
}

const capturedLogs = () => {
  const lines: Array<Line> = []
  const layer = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ logLevel, message }) => {
      const parts = Array.isArray(message) ? message : [message]
      lines.push({ level: logLevel.label, message: parts.map(String).join(" ") })
    })
  )
  return { lines, layer }
}

/** A loopback port nothing listens on. */
const closedPort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

const traceFailures = Metric.value(Metric.tagged(otlpExportFailures, "signal", "traces")).pipe(
  Effect.map((state) => state.count)
)

/** Polls until `done` holds, or fails naming what never happened. */
const eventually = (what: string, done: Effect.Effect<boolean>, tick: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function* () {
    while (!(yield* done)) {
      yield* tick
      yield* Effect.sleep(Duration.millis(50))
    }
  }).pipe(Effect.timeoutFail({ duration: Duration.seconds(15), onTimeout: () => new Error(`never saw: ${what}`) }))

const span = Effect.void.pipe(Effect.withSpan("tick"))

const tracesLines = (lines: ReadonlyArray<Line>, pattern: RegExp) =>
  lines.filter((line) => line.message.startsWith("OTLP export of traces") && pattern.test(line.message))

describe("OTLP export failures", () => {
  it.scopedLive(
    "a closed endpoint: logged once with the socket error, every failed request counted in /metrics",
    () =>
      Effect.gen(function* () {
        const port = yield* closedPort
        const logs = capturedLogs()
        const before = yield* traceFailures
        yield* Effect.scoped(
          Effect.gen(function* () {
            // The exporter retries a failed batch after 1 s: two failures are two requests, not one.
            yield* eventually(
              "two failed trace exports",
              Effect.map(traceFailures, (count) => count >= before + 2),
              span
            )
          }).pipe(
            Effect.provide(
              layerOtlp({ endpoint: `http://127.0.0.1:${port}`, serviceName: "t", exportInterval: "50 millis" })
            ),
            Effect.provide(logs.layer)
          )
        )
        const warnings = tracesLines(logs.lines, /failed/)
        expect(warnings).toHaveLength(1)
        expect(warnings[0]!.level).toBe("WARN")
        expect(warnings[0]!.message).toContain(`http://127.0.0.1:${port}/v1/traces failed: connect ECONNREFUSED`)
        const exposition = yield* Effect.promise(() => encodePrometheus(Metric.unsafeSnapshot()))
        expect(exposition).toMatch(/^otlp_export_failures_total\{signal="traces"\} [1-9]/m)
      }),
    30_000
  )

  it.scopedLive(
    "a collector answering 500: the first failure and each recovery are logged once",
    () =>
      Effect.gen(function* () {
        const otlp = yield* FakeOtlp.make({ status: 500 })
        const logs = capturedLogs()
        const failedTraceRequests = Effect.map(
          otlp.requests,
          (requests) => requests.filter((request) => request.path === "/v1/traces" && request.status === 500).length
        )
        const recoveries = Effect.sync(() => tracesLines(logs.lines, /recovered/).length)
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* span
            yield* eventually(
              "two 500s",
              Effect.map(failedTraceRequests, (n) => n >= 2)
            )
            yield* otlp.setStatus(200)
            yield* eventually(
              "a recovery logged",
              Effect.map(recoveries, (n) => n >= 1)
            )

            yield* otlp.setStatus(500)
            yield* span
            yield* eventually(
              "a third 500",
              Effect.map(failedTraceRequests, (n) => n >= 3)
            )
            yield* otlp.setStatus(200)
            yield* eventually(
              "a second recovery logged",
              Effect.map(recoveries, (n) => n >= 2)
            )
          }).pipe(
            Effect.provide(layerOtlp({ endpoint: otlp.url, serviceName: "t", exportInterval: "50 millis" })),
            Effect.provide(logs.layer)
          )
        )
        const events = tracesLines(logs.lines, /failed|recovered/).map((line) =>
          line.message.includes("recovered") ? "recovered" : line.message.includes("HTTP 500") ? "failed 500" : "?"
        )
        expect(events).toEqual(["failed 500", "recovered", "failed 500", "recovered"])
        expect((yield* otlp.spans).map((span) => span.name)).toEqual(["tick", "tick"])
        expect(tracesLines(logs.lines, /recovered/).every((line) => line.level === "INFO")).toBe(true)
      }),
    30_000
  )
})
