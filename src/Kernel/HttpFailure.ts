import * as HttpClientError from "@effect/platform/HttpClientError"
import { Cause } from "effect"

/**
 * One readable line for a failed HTTP request: the status, or the socket error that stopped it
 * (`connect ECONNREFUSED 127.0.0.1:4318`, `getaddrinfo ENOTFOUND collector`), never a stack.
 */
export const describeHttpFailure = (error: unknown): string => {
  if (Cause.isTimeoutException(error)) return "timed out"
  if (!HttpClientError.isHttpClientError(error)) return error instanceof Error ? error.message : String(error)
  if (error._tag === "ResponseError") {
    return error.reason === "StatusCode" ? `HTTP ${error.response.status}` : "the response body couldn't be read"
  }
  if (error.reason === "InvalidUrl") return "not a valid URL"
  const cause = error.cause as { message?: unknown; code?: unknown; cause?: { message?: unknown; code?: unknown } }
  const inner = typeof cause?.code === "string" ? cause : (cause?.cause ?? cause)
  const code = typeof inner?.code === "string" ? inner.code : undefined
  const message = typeof inner?.message === "string" ? inner.message : undefined
  if (message !== undefined && code !== undefined) return message.includes(code) ? message : `${message} (${code})`
  return message ?? code ?? "connection failed"
}
