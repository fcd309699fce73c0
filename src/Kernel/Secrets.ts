import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as HttpBody from "@effect/platform/HttpBody"
import { Effect, Either, FiberRef, HashMap, HashSet, Layer, Logger, Option, Redacted } from "effect"
import { AppConfig } from "./AppConfig.js"
import { redactQuery, type Scrub, scrubCause, scrubUrls, scrubValue, makeScrub } from "./Scrub.js"

/** Every `Redacted` value in the configuration, wherever it sits (inside an Option, a section, an array). */
const redactedValues = (value: unknown, found: Array<string> = []): Array<string> => {
  if (Redacted.isRedacted(value)) {
    const secret = Redacted.value(value)
    if (typeof secret === "string") found.push(secret)
  } else if (Option.isOption(value)) {
    if (Option.isSome(value)) redactedValues(value.value, found)
  } else if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) redactedValues(item, found)
  }
  return found
}

/**
 * The one scrubber: every secret the bot is configured with (each `Config.redacted` setting: LLM
 * key, Discord webhook URLs and their tokens, Tiingo key, …), plus URL passwords and query values
 * anywhere. Logs (`ScrubbedLogging`), exported telemetry (`scrubbedOtlpJson`, used by Tracing) and
 * recorded errors (ErrorTracker) all go through it.
 */
export class Secrets extends Effect.Service<Secrets>()("Kernel/Secrets", {
  effect: Effect.map(AppConfig, (config) => ({ scrub: makeScrub(redactedValues(config)) })),
  dependencies: [AppConfig.Default]
}) {}

const scrubLogger = <Message, Output>(logger: Logger.Logger<Message, Output>, scrub: Scrub) =>
  Logger.mapInputOptions(logger, (options: Logger.Logger.Options<Message>): Logger.Logger.Options<Message> => ({
    ...options,
    message: scrubValue(options.message, scrub) as Message,
    cause: scrubCause(options.cause, scrub),
    annotations: HashMap.map(options.annotations, (value) => scrubValue(value, scrub))
  }))

/**
 * Wraps every logger installed when it is built (so provide it inside the layer that installs
 * the output logger). It never fails: with an invalid configuration, which the command reports
 * itself, only URL parts are scrubbed.
 */
export const ScrubbedLogging: Layer.Layer<never> = Layer.unwrapEffect(
  Effect.map(Effect.either(Effect.provide(Secrets, Secrets.Default)), (secrets) => {
    const scrub = Either.match(secrets, { onLeft: () => scrubUrls, onRight: ({ scrub }) => scrub })
    return Layer.fiberRefLocallyScopedWith(
      FiberRef.currentLoggers,
      HashSet.map((logger) => scrubLogger(logger, scrub))
    )
  })
)

/**
 * OTLP/JSON data is plain objects and arrays; HTTP client spans keep their query apart, in
 * `url.query`. Copy-on-write: a batch with nothing to scrub is walked but not copied.
 */
const scrubTelemetry = (value: unknown, scrub: Scrub): unknown => {
  if (typeof value === "string") return scrub(value)
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) {
    let copy: Array<unknown> | undefined
    for (let i = 0; i < value.length; i++) {
      const item = value[i]
      const scrubbed = scrubTelemetry(item, scrub)
      if (scrubbed !== item) (copy ??= value.slice())[i] = scrubbed
    }
    return copy ?? value
  }
  const record = value as Record<string, unknown>
  const attribute = record.value as { stringValue?: unknown } | undefined
  if (record.key === "url.query" && typeof attribute?.stringValue === "string") {
    const query = redactQuery(scrub(attribute.stringValue))
    return query === attribute.stringValue ? record : { ...record, value: { ...attribute, stringValue: query } }
  }
  let copy: Record<string, unknown> | undefined
  for (const key in record) {
    const item = record[key]
    const scrubbed = scrubTelemetry(item, scrub)
    if (scrubbed !== item) (copy ??= { ...record })[key] = scrubbed
  }
  return copy ?? record
}

/**
 * OTLP/JSON encoding (as `OtlpSerialization.layerJson`) of scrubbed data: span names, attributes,
 * events (exception messages and stack traces included), status messages, log records and metric
 * labels, whatever produced them.
 */
export const scrubbedOtlpJson = (scrub: Scrub) =>
  Layer.succeed(OtlpSerialization.OtlpSerialization, {
    traces: (data) => HttpBody.unsafeJson(scrubTelemetry(data, scrub)),
    metrics: (data) => HttpBody.unsafeJson(scrubTelemetry(data, scrub)),
    logs: (data) => HttpBody.unsafeJson(scrubTelemetry(data, scrub))
  })
