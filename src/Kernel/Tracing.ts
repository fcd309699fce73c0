import { Otlp } from "@effect/opentelemetry"
import { NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer, Option } from "effect"
import { AppConfig } from "./AppConfig.js"

export interface TracingOptions {
  /** Base URL of an OTLP/HTTP receiver; `/v1/traces` (and `/v1/metrics`, `/v1/logs`) are appended. */
  readonly endpoint: string
  readonly serviceName: string
  /** How often buffered spans are sent; shutdown always sends what is left. */
  readonly exportInterval?: Duration.DurationInput
}

/**
 * OTLP/HTTP JSON export of spans, metrics and logs, with no OpenTelemetry SDK: Jaeger v2 takes it
 * on port 4318 (it ignores the metrics and logs; the exporter then pauses those for a minute).
 * The exporter's own requests are untraced, so exporting never produces spans of its own.
 */
export const layerOtlp = (options: TracingOptions) =>
  Otlp.layerJson({
    baseUrl: options.endpoint,
    resource: { serviceName: options.serviceName, serviceVersion: "0.1.0" },
    tracerExportInterval: options.exportInterval ?? Duration.seconds(5),
    metricsExportInterval: Duration.seconds(30),
    shutdownTimeout: Duration.seconds(3)
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * Tracing from OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_SERVICE_NAME, or nothing when the endpoint is
 * unset. `App/Layers.ts` provides it outermost, so its scope closes last and the final flush sees every span.
 */
export const TracingLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { observability } = yield* AppConfig
    return Option.match(observability.otlpEndpoint, {
      onNone: () => Layer.empty,
      onSome: (endpoint) => layerOtlp({ endpoint, serviceName: observability.serviceName })
    })
  })
).pipe(Layer.provide(AppConfig.Default))
