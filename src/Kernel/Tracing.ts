import * as Otlp from "@effect/opentelemetry/Otlp"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, Layer, Metric, Option } from "effect"
import { AppConfig } from "./AppConfig.js"
import { describeHttpFailure } from "./HttpFailure.js"
import { type Scrub, scrubUrls } from "./Scrub.js"
import { Secrets, scrubbedOtlpJson } from "./Secrets.js"

export interface TracingOptions {
  /** Base URL of an OTLP/HTTP receiver; `/v1/traces` (and `/v1/metrics`, `/v1/logs`) are appended. */
  readonly endpoint: string
  readonly serviceName: string
  /** How often buffered spans are sent; shutdown always sends what is left. */
  readonly exportInterval?: Duration.DurationInput
  /** Applied to every exported string; without it only URL passwords and query values are scrubbed. */
  readonly scrub?: Scrub
}

export const otlpExportFailures = Metric.counter("otlp_export_failures_total", {
  description: "OTLP export requests that failed (retries included), by signal: traces, metrics, logs"
})

const signalOf = (url: string) => {
  const path = url.split("?")[0] ?? url
  return path.endsWith("/v1/traces") ? "traces" : path.endsWith("/v1/metrics") ? "metrics" : "logs"
}

/**
 * The exporter only logs a failed export at debug level, then drops the batch and pauses that
 * signal for a minute, so a wrong endpoint would go unnoticed. Watching its HttpClient, this logs
 * the first failure of each signal and the recovery after it, once each, and counts every failure.
 */
const observeExports = (scrub: Scrub) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) => {
      const failing = new Set<string>()
      const failed = (signal: string, url: string, reason: string) =>
        Effect.suspend(() => {
          const first = !failing.has(signal)
          failing.add(signal)
          const hint =
            signal !== "traces" && reason === "HTTP 404"
              ? ` (the receiver may not take ${signal}; Jaeger takes only traces)`
              : ""
          return Metric.increment(Metric.tagged(otlpExportFailures, "signal", signal)).pipe(
            Effect.zipRight(
              first
                ? Effect.logWarning(
                    `OTLP export of ${signal} to ${url} failed: ${reason}${hint}; ${signal} are dropped until it recovers (otlp_export_failures_total counts each failure)`
                  )
                : Effect.void
            )
          )
        })
      const succeeded = (signal: string, url: string) =>
        Effect.suspend(() =>
          failing.delete(signal) ? Effect.logInfo(`OTLP export of ${signal} to ${url} recovered`) : Effect.void
        )
      return HttpClient.transform(client, (response, request) => {
        const signal = signalOf(request.url)
        const url = scrub(request.url)
        return response.pipe(
          Effect.tapBoth({
            onSuccess: (answer) =>
              answer.status >= 200 && answer.status < 300
                ? succeeded(signal, url)
                : failed(signal, url, `HTTP ${answer.status}`),
            onFailure: (error) => failed(signal, url, describeHttpFailure(error))
          })
        )
      })
    })
  )

/**
 * OTLP/HTTP JSON export of spans, metrics and logs, with no OpenTelemetry SDK: Jaeger v2 takes it
 * on port 4318 (it ignores the metrics and logs; the exporter then pauses those for a minute).
 * The exporter's own requests are untraced, so exporting never produces spans of its own.
 * Everything exported is scrubbed first, and export failures are logged and counted.
 */
export const layerOtlp = (options: TracingOptions) => {
  const scrub = options.scrub ?? scrubUrls
  return Otlp.layer({
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName, serviceVersion: "0.1.0" },
    tracerExportInterval: options.exportInterval ?? Duration.seconds(5),
    metricsExportInterval: Duration.seconds(30),
    shutdownTimeout: Duration.seconds(3)
  }).pipe(
    Layer.provide(scrubbedOtlpJson(scrub)),
    Layer.provide(observeExports(scrub)),
    Layer.provide(NodeHttpClient.layerUndici)
  )
}

/**
 * Tracing from OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_SERVICE_NAME, or nothing when the endpoint is
 * unset. `App/Layers.ts` provides it outermost, so its scope closes last and the final flush sees every span.
 */
export const TracingLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { observability } = yield* AppConfig
    const { scrub } = yield* Secrets
    return Option.match(observability.otlpEndpoint, {
      onNone: () => Layer.empty,
      onSome: (endpoint) => layerOtlp({ endpoint, serviceName: observability.serviceName, scrub })
    })
  })
).pipe(Layer.provide(Layer.merge(AppConfig.Default, Secrets.Default)))
