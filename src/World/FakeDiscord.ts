import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local Discord webhook server, written from the documented behaviour
 * (https://discord.com/developers/docs/resources/webhook#execute-webhook and /topics/rate-limits):
 * a fixed-window bucket per webhook with X-RateLimit-* headers, 429 bodies with a float `retry_after`,
 * a global requests/s limit answered with global 429s, JSON or multipart (`payload_json` + `files[n]`)
 * bodies, 400 / 50035 when a message breaks a limit, and 404 / 10015 for a deleted webhook.
 * Every accepted message is recorded in order, with its parsed payload and attachments.
 */

export interface FakeDiscordOptions {
  /** Requests per window per webhook (Discord has been observed at 5 per 2 s). */
  readonly limit?: number
  readonly windowMs?: number
  /** Requests per second over all webhooks before global 429s (Discord: 50). */
  readonly globalPerSecond?: number
  /** Added before every answer. */
  readonly latencyMs?: number
  /** Keep each attachment's bytes in `ReceivedFile.data` (the demo writes them out). */
  readonly keepFileData?: boolean
}

export interface ReceivedFile {
  readonly field: string
  readonly filename: string
  readonly contentType: string
  readonly size: number
  /** Only with `keepFileData`. */
  readonly data?: Uint8Array
}

export interface ReceivedMessage {
  readonly id: string
  readonly webhookId: string
  readonly at: number
  readonly payload: Record<string, unknown>
  readonly files: ReadonlyArray<ReceivedFile>
  readonly multipart: boolean
  /** Who this message would notify, given its content and `allowed_mentions`. */
  readonly pinged: ReadonlyArray<string>
}

export interface RequestRecord {
  readonly at: number
  readonly webhookId: string
  readonly status: number
  /** For 429s: "user" (bucket) or "global". */
  readonly scope: string | null
}

interface Window {
  start: number
  count: number
}

const limits = {
  content: 2000,
  embeds: 10,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  author: 256,
  total: 6000
}

type Json = Record<string, unknown>

const str = (value: unknown): string => (typeof value === "string" ? value : "")

/** Discord's checks on a message; returns the offending paths (empty = valid). */
export const validateMessage = (payload: Json, fileNames: ReadonlyArray<string>): Array<string> => {
  const errors: Array<string> = []
  const content = str(payload["content"])
  const embeds = Array.isArray(payload["embeds"]) ? (payload["embeds"] as Array<Json>) : []
  if (content.length > limits.content) errors.push("content: must be 2000 or fewer in length")
  if (embeds.length > limits.embeds) errors.push("embeds: must be 10 or fewer in length")
  if (content === "" && embeds.length === 0 && fileNames.length === 0)
    errors.push("message: cannot send an empty message")
  let total = 0
  embeds.forEach((embed, i) => {
    const check = (path: string, value: string, max: number) => {
      total += value.trim().length
      if (value.length > max) errors.push(`embeds.${i}.${path}: must be ${max} or fewer in length`)
    }
    check("title", str(embed["title"]), limits.title)
    check("description", str(embed["description"]), limits.description)
    check("footer.text", str((embed["footer"] as Json | undefined)?.["text"]), limits.footer)
    check("author.name", str((embed["author"] as Json | undefined)?.["name"]), limits.author)
    const fields = Array.isArray(embed["fields"]) ? (embed["fields"] as Array<Json>) : []
    if (fields.length > limits.fields) errors.push(`embeds.${i}.fields: must be 25 or fewer in length`)
    fields.forEach((field, j) => {
      if (str(field["name"]).trim() === "" || str(field["value"]).trim() === "")
        errors.push(`embeds.${i}.fields.${j}: name and value are required`)
      check(`fields.${j}.name`, str(field["name"]), limits.fieldName)
      check(`fields.${j}.value`, str(field["value"]), limits.fieldValue)
    })
    const image = str((embed["image"] as Json | undefined)?.["url"])
    if (image.startsWith("attachment://") && !fileNames.includes(image.slice("attachment://".length)))
      errors.push(`embeds.${i}.image.url: unknown attachment ${image}`)
  })
  if (total > limits.total) errors.push(`embeds: total length ${total} exceeds 6000`)
  return errors
}

/** Mentions in `content` that would notify someone; embeds never ping. */
export const pingsOf = (payload: Json): Array<string> => {
  const content = str(payload["content"])
  const allowed = payload["allowed_mentions"] as { parse?: Array<string> } | undefined
  const parse = allowed?.parse ?? ["everyone", "users", "roles"]
  const pings: Array<string> = []
  if (parse.includes("everyone")) pings.push(...(content.match(/@(everyone|here)/g) ?? []))
  if (parse.includes("users")) pings.push(...(content.match(/<@!?\d+>/g) ?? []))
  if (parse.includes("roles")) pings.push(...(content.match(/<@&\d+>/g) ?? []))
  return pings
}

const readBody = (req: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

/** Multipart parsing by the platform's own Fetch implementation (undici), not by hand. */
const parseBody = async (req: IncomingMessage, body: Buffer, keepFileData: boolean) => {
  const type = req.headers["content-type"] ?? ""
  if (!type.startsWith("multipart/form-data")) {
    return { payload: JSON.parse(body.toString("utf8")) as Json, files: [] as Array<ReceivedFile>, multipart: false }
  }
  const form = await new Request("http://fake.local/", {
    method: "POST",
    headers: { "content-type": type },
    body
  }).formData()
  const files: Array<ReceivedFile> = []
  let payload: Json = {}
  for (const [field, value] of form.entries()) {
    if (field === "payload_json" && typeof value === "string") payload = JSON.parse(value) as Json
    else if (typeof value !== "string") {
      files.push({
        field,
        filename: value.name,
        contentType: value.type,
        size: value.size,
        ...(keepFileData && { data: new Uint8Array(await value.arrayBuffer()) })
      })
    }
  }
  return { payload, files, multipart: true }
}

export const makeFakeDiscord = (options: FakeDiscordOptions = {}) =>
  Effect.gen(function* () {
    const settings = { limit: 5, windowMs: 2_000, globalPerSecond: 50, latencyMs: 0, keepFileData: false, ...options }
    const messages: Array<ReceivedMessage> = []
    const requests: Array<RequestRecord> = []
    const windows = new Map<string, Window>()
    const globalTimes: Array<number> = []
    const deleted = new Set<string>()
    /** Scripted answers; `garbage` ones carry an HTML body instead of JSON (a broken proxy in the way). */
    const scriptedFailures: Array<{ readonly status: number; readonly garbage: boolean }> = []
    let globalBlockedUntil = 0
    const holding = new Set<string>()
    const held: Array<() => void> = []
    let nextId = 1_000_000_000_000_000n

    const send = (res: ServerResponse, status: number, headers: Record<string, string>, body?: unknown) => {
      res.writeHead(status, { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) })
      res.end(body === undefined ? undefined : JSON.stringify(body))
    }

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://fake.local")
      const match = /^\/api\/webhooks\/(\d+)\/([\w-]+)$/.exec(url.pathname)
      const body = await readBody(req)
      if (settings.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, settings.latencyMs))
      const now = Date.now()
      const record = (webhookId: string, status: number, scope: string | null = null) =>
        requests.push({ at: now, webhookId, status, scope })
      if (req.method !== "POST" || match === null) {
        record("", 404)
        return send(res, 404, {}, { message: "404: Not Found", code: 0 })
      }
      const webhookId = match[1]!
      if (deleted.has(webhookId)) {
        record(webhookId, 404)
        return send(res, 404, {}, { message: "Unknown Webhook", code: 10015 })
      }

      // Global limit: no bucket headers, X-RateLimit-Global and scope "global".
      while (globalTimes.length > 0 && globalTimes[0]! <= now - 1_000) globalTimes.shift()
      if (now < globalBlockedUntil || globalTimes.length >= settings.globalPerSecond) {
        const overCap = globalTimes.length >= settings.globalPerSecond ? globalTimes[0]! + 1_000 - now : 0
        const retryAfter = Math.max(globalBlockedUntil - now, overCap) / 1000
        record(webhookId, 429, "global")
        return send(
          res,
          429,
          { "retry-after": String(Math.ceil(retryAfter)), "x-ratelimit-global": "true", "x-ratelimit-scope": "global" },
          { message: "You are being rate limited.", retry_after: Number(retryAfter.toFixed(3)), global: true }
        )
      }
      globalTimes.push(now)

      let window = windows.get(webhookId)
      if (window === undefined || now >= window.start + settings.windowMs) {
        window = { start: now, count: 0 }
        windows.set(webhookId, window)
      }
      const resetAfter = (window.start + settings.windowMs - now) / 1000
      const bucketHeaders = (remaining: number) => ({
        "x-ratelimit-limit": String(settings.limit),
        "x-ratelimit-remaining": String(remaining),
        "x-ratelimit-reset": ((window.start + settings.windowMs) / 1000).toFixed(3),
        "x-ratelimit-reset-after": resetAfter.toFixed(3),
        "x-ratelimit-bucket": `bucket-${webhookId.slice(-6)}`
      })
      if (window.count >= settings.limit) {
        record(webhookId, 429, "user")
        return send(
          res,
          429,
          { ...bucketHeaders(0), "retry-after": String(Math.ceil(resetAfter)), "x-ratelimit-scope": "user" },
          { message: "You are being rate limited.", retry_after: Number(resetAfter.toFixed(3)), global: false }
        )
      }
      window.count += 1
      const headers = bucketHeaders(settings.limit - window.count)

      const scripted = scriptedFailures.shift()
      if (scripted !== undefined) {
        record(webhookId, scripted.status)
        if (!scripted.garbage) return send(res, scripted.status, headers, { message: "scripted failure", code: 0 })
        res.writeHead(scripted.status, { ...headers, "content-type": "text/html" })
        return res.end("<html><body><h1>upstream sent garbage</h1>\u0000\u0001</body></html>")
      }

      let parsed: Awaited<ReturnType<typeof parseBody>>
      try {
        parsed = await parseBody(req, body, settings.keepFileData)
      } catch {
        record(webhookId, 400)
        return send(res, 400, headers, { message: "Invalid Form Body", code: 50035, errors: { _errors: ["bad body"] } })
      }
      const errors = validateMessage(
        parsed.payload,
        parsed.files.map((file) => file.filename)
      )
      if (errors.length > 0) {
        record(webhookId, 400)
        return send(res, 400, headers, { message: "Invalid Form Body", code: 50035, errors })
      }
      const id = String(nextId++)
      messages.push({
        id,
        webhookId,
        at: now,
        payload: parsed.payload,
        files: parsed.files,
        multipart: parsed.multipart,
        pinged: pingsOf(parsed.payload)
      })
      record(webhookId, url.searchParams.get("wait") === "true" ? 200 : 204)
      const answer = () => {
        if (res.destroyed) return
        if (url.searchParams.get("wait") !== "true") return send(res, 204, headers)
        send(res, 200, headers, {
          id,
          type: 0,
          webhook_id: webhookId,
          channel_id: "1",
          content: parsed.payload["content"] ?? "",
          embeds: parsed.payload["embeds"] ?? [],
          attachments: parsed.files.map((file, index) => ({ id: String(index), filename: file.filename }))
        })
      }
      if (holding.has(webhookId)) held.push(answer)
      else answer()
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<ReturnType<typeof createServer>>((resume) => {
        const server = createServer((req, res) => {
          handle(req, res).catch((error: unknown) => send(res, 500, {}, { message: String(error), code: 0 }))
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    return {
      url: base,
      /** A webhook URL on this server; the token is arbitrary. */
      webhookUrl: (id = "123456789012345678", token = "fake-token") => `${base}/api/webhooks/${id}/${token}`,
      messages: messages as ReadonlyArray<ReceivedMessage>,
      requests: requests as ReadonlyArray<RequestRecord>,
      /** The next `count` requests that pass the rate limits are answered with `status`. */
      failNext: (count: number, status = 500) => {
        for (let i = 0; i < count; i++) scriptedFailures.push({ status, garbage: false })
      },
      /** The next `count` requests that pass the rate limits get `status` with an HTML body, not JSON. */
      garbageNext: (count: number, status = 200) => {
        for (let i = 0; i < count; i++) scriptedFailures.push({ status, garbage: true })
      },
      /** Forgets recorded messages and requests, so a long run keeps constant memory. */
      clearRecords: () => {
        messages.length = 0
        requests.length = 0
      },
      /** The webhook answers 404 / 10015 from now on. */
      deleteWebhook: (id: string) => deleted.add(id),
      /** Every request is answered with a global 429 for this long. */
      blockGlobally: (ms: number) => {
        globalBlockedUntil = Date.now() + ms
      },
      setLatency: (ms: number) => {
        settings.latencyMs = ms
      },
      /** From now on messages to this webhook are posted, but their answers are held: a reply lost in flight. */
      holdAnswers: (webhookId: string) => {
        holding.add(webhookId)
      },
      /** Posted messages whose answer is being held. */
      heldAnswers: () => held.length,
      /** Sends the held answers (to whoever is still listening) and answers at once again. */
      releaseAnswers: () => {
        holding.clear()
        held.splice(0).forEach((answer) => answer())
      }
    }
  })

export type FakeDiscord = Effect.Effect.Success<ReturnType<typeof makeFakeDiscord>>
