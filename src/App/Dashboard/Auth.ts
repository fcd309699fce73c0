import { createHash, createHmac, timingSafeEqual } from "node:crypto"

/**
 * DASHBOARD_TOKEN checks: `Authorization: Bearer <token>` for scripts, or the session cookie that the
 * login form sets for browsers (EventSource can't send headers). The cookie holds an HMAC of the token,
 * not the token, so a copied cookie never reveals DASHBOARD_TOKEN itself.
 */

export const sessionCookieName = "catalyst_dashboard"

const digest = (value: string) => createHash("sha256").update(value).digest()

/** Compares digests, so neither the time taken nor an early length mismatch tells how much was right. */
const sameSecret = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected))

export const sessionValue = (token: string): string =>
  createHmac("sha256", token).update("catalyst-bot dashboard session").digest("base64url")

export const bearerOf = (authorization: string | undefined): string | null => {
  const match = /^Bearer\s+(.+)$/i.exec(authorization ?? "")
  return match?.[1]?.trim() ?? null
}

export const isAuthorized = (
  request: { readonly authorization: string | undefined; readonly cookie: string | undefined },
  token: string
): boolean => {
  const bearer = bearerOf(request.authorization)
  if (bearer !== null && sameSecret(bearer, token)) return true
  return request.cookie !== undefined && sameSecret(request.cookie, sessionValue(token))
}

export const tokenMatches = (given: string, token: string): boolean => sameSecret(given, token)
