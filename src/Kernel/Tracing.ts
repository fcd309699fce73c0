import { Otlp } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer, Option } from "effect"
import { AppConfig } from "./AppConfig.js"
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

/**
 * OTLP/HTTP JSON export of spans, metrics and logs, with no OpenTelemetry SDK: Jaeger v2 takes it
 * on port 4318 (it ignores the metrics and logs; the exporter then pauses those for a minute).
 * The exporter's own requests are untraced, so exporting never produces spans of its own.
 * Everything exported is scrubbed first.
 */
export const layerOtlp = (options: TracingOptions) => {
  const scrub = options.scrub ?? scrubUrls
  return Otlp.layer({
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName, serviceVersion: "0.1.0" },
    tracerExportInterval: options.exportInterval ?? Duration.seconds(5),
    metricsExportInterval: Duration.seconds(30),
    shutdownTimeout: Duration.seconds(3)
  }).pipe(Layer.provide(scrubbedOtlpJson(scrub)), Layer.provide(NodeHttpClient.layerUndici))
}

/**
 * Tracing from OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_SERVICE_NAME, or nothing when the endpoint is
 * unset. main.ts provides it outermost, so its scope closes last and the final flush sees every span.
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
