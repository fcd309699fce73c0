import { Effect, Either, Schema } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local OTLP/HTTP receiver (JSON encoding, https://opentelemetry.io/docs/specs/otlp/#otlphttp):
 * `POST /v1/traces` with an ExportTraceServiceRequest body is decoded and every span recorded;
 * `/v1/metrics` and `/v1/logs` are accepted and counted. Answers 200 `{}` as the spec asks, or
 * whatever status the test scripts. `GET /recorded` returns what was recorded, for a receiver
 * running in another process (benches, demos).
 */

/** OTLP/JSON AnyValue: int64 may arrive as a number or a decimal string. */
interface AnyValue {
  readonly stringValue?: string | null | undefined
  readonly boolValue?: boolean | null | undefined
  readonly intValue?: number | string | null | undefined
  readonly doubleValue?: number | null | undefined
  readonly arrayValue?: { readonly values?: ReadonlyArray<AnyValue> | undefined } | undefined
}

const AnyValue: Schema.Schema<AnyValue> = Schema.Struct({
  stringValue: Schema.optional(Schema.NullOr(Schema.String)),
  boolValue: Schema.optional(Schema.NullOr(Schema.Boolean)),
  intValue: Schema.optional(Schema.NullOr(Schema.Union(Schema.Number, Schema.String))),
  doubleValue: Schema.optional(Schema.NullOr(Schema.Number)),
  arrayValue: Schema.optional(
    Schema.Struct({ values: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<AnyValue> => AnyValue))) })
  )
})

const KeyValue = Schema.Struct({ key: Schema.String, value: AnyValue })

const OtlpSpan = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  parentSpanId: Schema.optional(Schema.NullOr(Schema.String)),
  name: Schema.String,
  kind: Schema.optional(Schema.Number),
  startTimeUnixNano: Schema.Union(Schema.String, Schema.Number),
  endTimeUnixNano: Schema.Union(Schema.String, Schema.Number),
  attributes: Schema.optionalWith(Schema.Array(KeyValue), { default: () => [] }),
  events: Schema.optionalWith(
    Schema.Array(Schema.Struct({ name: Schema.String, attributes: Schema.optional(Schema.Array(KeyValue)) })),
    { default: () => [] }
  ),
  status: Schema.optional(
    Schema.Struct({ code: Schema.optional(Schema.Number), message: Schema.optional(Schema.String) })
  ),
  links: Schema.optionalWith(Schema.Array(Schema.Struct({ traceId: Schema.String, spanId: Schema.String })), {
    default: () => []
  })
})

const ExportTraceServiceRequest = Schema.Struct({
  resourceSpans: Schema.Array(
    Schema.Struct({
      resource: Schema.optional(Schema.Struct({ attributes: Schema.optional(Schema.Array(KeyValue)) })),
      scopeSpans: Schema.Array(Schema.Struct({ spans: Schema.Array(OtlpSpan) }))
    })
  )
})

const decodeTraces = Schema.decodeUnknownEither(Schema.parseJson(ExportTraceServiceRequest))

export type AttributeValue = string | number | boolean | ReadonlyArray<AttributeValue> | null

export interface RecordedSpan {
  readonly traceId: string
  readonly spanId: string
  /** Null for a root span. */
  readonly parentSpanId: string | null
  readonly name: string
  readonly serviceName: string | null
  readonly attributes: Readonly<Record<string, AttributeValue>>
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number
  readonly statusMessage: string | null
  readonly eventNames: ReadonlyArray<string>
  /** Spans this one links to (OTLP span links), by trace and span id. */
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
  readonly startNanos: bigint
  readonly endNanos: bigint
  readonly receivedAt: number
}

export interface RecordedRequest {
  readonly path: string
  readonly contentType: string | null
  readonly bytes: number
  readonly status: number
  readonly receivedAt: number
}

const toValue = (value: AnyValue): AttributeValue => {
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue
  if (value.intValue !== undefined && value.intValue !== null) return Number(value.intValue)
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(toValue)
  return null
}

const toRecord = (attributes: ReadonlyArray<{ readonly key: string; readonly value: AnyValue }> | undefined) =>
  Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, toValue(value)]))

const readBody = (request: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

export interface FakeOtlpOptions {
  /** Status for every export request (default 200); non-2xx bodies follow the OTLP error shape. */
  readonly status?: number
  /** Delay before answering, in ms. */
  readonly latencyMs?: number
}

/** Starts the receiver on 127.0.0.1:0 for the life of the scope. */
export const make = (options: FakeOtlpOptions = {}) =>
  Effect.gen(function* () {
    const spans: Array<RecordedSpan> = []
    const requests: Array<RecordedRequest> = []
    const bodies: Array<string> = []
    const settings = { status: options.status ?? 200, latencyMs: options.latencyMs ?? 0 }

    const reply = (response: ServerResponse, status: number, body: unknown) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(JSON.stringify(body))
    }

    const handle = async (request: IncomingMessage, response: ServerResponse) => {
      const body = await readBody(request)
      const path = (request.url ?? "/").split("?")[0] ?? "/"
      const contentType = request.headers["content-type"] ?? null
      const receivedAt = Date.now()
      if (settings.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, settings.latencyMs))
      const record = (status: number) => {
        requests.push({ path, contentType, bytes: body.length, status, receivedAt })
        bodies.push(body.toString("utf8"))
      }

      if (request.method === "GET" && path === "/recorded") {
        return reply(response, 200, {
          spans: spans.map((span) => ({
            ...span,
            startNanos: String(span.startNanos),
            endNanos: String(span.endNanos)
          })),
          requests
        })
      }
      if (request.method !== "POST" || !["/v1/traces", "/v1/metrics", "/v1/logs"].includes(path)) {
        record(404)
        return reply(response, 404, { code: 5, message: `no OTLP endpoint at ${request.method} ${path}` })
      }
      if (!contentType?.startsWith("application/json")) {
        record(415)
        return reply(response, 415, { code: 3, message: "this receiver only speaks OTLP/JSON" })
      }
      if (settings.status >= 300) {
        record(settings.status)
        return reply(response, settings.status, { code: 14, message: "scripted failure" })
      }
      if (path === "/v1/traces") {
        const decoded = decodeTraces(body.toString("utf8"))
        if (Either.isLeft(decoded)) {
          record(400)
          return reply(response, 400, { code: 3, message: decoded.left.message })
        }
        for (const resourceSpans of decoded.right.resourceSpans) {
          const resource = toRecord(resourceSpans.resource?.attributes)
          const serviceName = typeof resource["service.name"] === "string" ? resource["service.name"] : null
          for (const scope of resourceSpans.scopeSpans) {
            for (const span of scope.spans) {
              spans.push({
                traceId: span.traceId,
                spanId: span.spanId,
                parentSpanId: span.parentSpanId ? span.parentSpanId : null,
                name: span.name,
                serviceName,
                attributes: toRecord(span.attributes),
                statusCode: span.status?.code ?? 0,
                statusMessage: span.status?.message ?? null,
                eventNames: span.events.map((event) => event.name),
                links: span.links.map(({ spanId, traceId }) => ({ traceId, spanId })),
                startNanos: BigInt(span.startTimeUnixNano),
                endNanos: BigInt(span.endTimeUnixNano),
                receivedAt
              })
            }
          }
        }
      }
      record(200)
      reply(response, 200, {})
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<ReturnType<typeof createServer>>((resume) => {
        const server = createServer((request, response) => {
          handle(request, response).catch((error: unknown) => reply(response, 500, { message: String(error) }))
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    const { port } = server.address() as AddressInfo

    return {
      /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT. */
      url: `http://127.0.0.1:${port}`,
      spans: Effect.sync((): ReadonlyArray<RecordedSpan> => [...spans]),
      requests: Effect.sync((): ReadonlyArray<RecordedRequest> => [...requests]),
      /** The raw body of every export request (traces, metrics and logs), accepted or not. */
      bodies: Effect.sync((): ReadonlyArray<string> => [...bodies]),
      setStatus: (status: number) => Effect.sync(() => void (settings.status = status)),
      setLatency: (latencyMs: number) => Effect.sync(() => void (settings.latencyMs = latencyMs))
    } as const
  })
