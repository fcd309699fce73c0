import { Cause } from "effect"

/**
 * Text scrubbing, pure: configured secret values, URL passwords and query values are replaced by
 * `<redacted>` (what Effect's `Redacted` prints). `Secrets.ts` builds the scrubber from the
 * configuration and applies it to logs, exported telemetry and recorded errors.
 */

export const REDACTED = "<redacted>"

/** Shorter values are not scrubbed: replacing every "abc" would garble the text and protect nothing. */
const minSecretLength = 4

export type Scrub = (text: string) => string

/** `a=1&b` → `a=<redacted>&<redacted>`: the names stay readable, the values go. */
export const redactQuery = (query: string): string =>
  query
    .split("&")
    .map((part) => {
      const eq = part.indexOf("=")
      if (eq === -1) return part === "" ? part : REDACTED
      return eq === part.length - 1 ? part : `${part.slice(0, eq)}=${REDACTED}`
    })
    .join("&")

/**
 * A whole value that should be a URL, malformed or not (spaces included): the password of its
 * userinfo (all of it when there is no `user:` part, as it is then a token) and every query value.
 */
export const redactUrl = (value: string): string => {
  const schemeEnd = value.indexOf("://")
  if (schemeEnd === -1) return value
  const start = schemeEnd + 3
  const rest = value.slice(start)
  const authorityEnd = rest.search(/[/?#]/)
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd)
  let tail = authorityEnd === -1 ? "" : rest.slice(authorityEnd)
  const at = authority.lastIndexOf("@")
  let host = authority
  if (at !== -1) {
    const userinfo = authority.slice(0, at)
    const colon = userinfo.indexOf(":")
    host = `${colon === -1 ? REDACTED : `${userinfo.slice(0, colon)}:${REDACTED}`}@${authority.slice(at + 1)}`
  }
  const queryStart = tail.indexOf("?")
  if (queryStart !== -1) {
    const hash = tail.indexOf("#", queryStart)
    const queryEnd = hash === -1 ? tail.length : hash
    tail = `${tail.slice(0, queryStart + 1)}${redactQuery(tail.slice(queryStart + 1, queryEnd))}${tail.slice(queryEnd)}`
  }
  return `${value.slice(0, start)}${host}${tail}`
}

const urlPattern = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi

/** Every URL inside free text; a URL ends at whitespace or a quote. */
export const scrubUrls: Scrub = (text) => (text.includes("://") ? text.replace(urlPattern, redactUrl) : text)

/**
 * The forms in which a secret can show up in text: itself, URL-encoded, and for a secret URL (a
 * Discord webhook) its password, its last path segment (the webhook token) and its query values.
 */
export const secretForms = (secret: string): ReadonlyArray<string> => {
  const value = secret.trim()
  const forms = [value, encodeURIComponent(value)]
  try {
    const url = new URL(value)
    if (url.password !== "") forms.push(url.password, decodeURIComponent(url.password))
    else if (url.username !== "") forms.push(url.username, decodeURIComponent(url.username))
    const last = url.pathname.split("/").filter((segment) => segment !== "")
    const token = last[last.length - 1]
    if (token !== undefined && token.length >= 16) forms.push(token)
    for (const [, queryValue] of url.searchParams) forms.push(queryValue)
  } catch {
    // Not a URL: the value itself is the secret.
  }
  return forms
}

/** Replaces each secret (longest first, so a URL goes before the token inside it), then URL parts. */
export const makeScrub = (secrets: Iterable<string>): Scrub => {
  const values = Array.from(new Set(Array.from(secrets).flatMap(secretForms)))
    .filter((value) => value.length >= minSecretLength)
    .sort((a, b) => b.length - a.length)
  return (text) => {
    let scrubbed = text
    for (const value of values) {
      if (scrubbed.includes(value)) scrubbed = scrubbed.replaceAll(value, REDACTED)
    }
    return scrubUrls(scrubbed)
  }
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const scrubError = (error: Error, scrub: Scrub, depth: number): Error => {
  const copy = new Error(
    scrub(error.message),
    error.cause === undefined ? undefined : { cause: scrubValue(error.cause, scrub, depth + 1) }
  )
  copy.name = error.name
  if (error.stack !== undefined) copy.stack = scrub(error.stack)
  return copy
}

/**
 * Strings anywhere inside a log message or annotation: arrays, plain objects, errors (as copies
 * with the same name, message and stack) and anything with a `toJSON`. Other values pass as they are.
 */
export const scrubValue = (value: unknown, scrub: Scrub, depth = 0): unknown => {
  if (typeof value === "string") return scrub(value)
  if (typeof value !== "object" || value === null || depth > 8) return value
  if (Array.isArray(value)) return value.map((item) => scrubValue(item, scrub, depth + 1))
  if (value instanceof Error) return scrubError(value, scrub, depth)
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, scrubValue(item, scrub, depth + 1)]))
  }
  if ("toJSON" in value && typeof value.toJSON === "function") return scrubValue(value.toJSON(), scrub, depth + 1)
  return value
}

/**
 * The same failures, rendered as they would be (name, message, stack, spans, nested causes) and
 * scrubbed: each becomes a defect holding the scrubbed rendering, which `Cause.pretty` prints alike.
 */
export const scrubCause = (cause: Cause.Cause<unknown>, scrub: Scrub): Cause.Cause<unknown> => {
  const errors = Cause.prettyErrors(cause)
  if (errors.length === 0) return cause
  return errors
    .map((error): Cause.Cause<unknown> => Cause.die(scrubError(error, scrub, 0)))
    .reduce((left, right) => Cause.parallel(left, right))
}
