import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local Discord webhook server, written from the documented behaviour
 * (https://discord.com/developers/docs/resources/webhook#execute-webhook and /topics/rate-limits):
 * a fixed-window bucket per webhook (or one shared by several, `sharedBuckets`) with X-RateLimit-* headers, 429 bodies with a float `retry_after`,
 * a global requests/s limit answered with global 429s, JSON or multipart (`payload_json` + `files[n]`)
 * bodies, 400 / 50035 when a message breaks a limit (10 embeds, 6000 characters over all of them, 10
 * files, an embed image naming a file the request doesn't carry), 404 / 10015 for a deleted webhook
 * and 401 / 50027 for a wrong token. `GET` on a webhook URL returns the webhook object, as Discord's Get Webhook with Token does.
 * Edit Webhook Message (`PATCH …/messages/{id}`, https://discord.com/developers/docs/resources/webhook#edit-webhook-message)
 * shares the webhook's bucket, answers 404 / 10008 for an unknown message, appends new files, and
 * with an `attachments` array keeps exactly the attachments it lists (existing ids, or `files[n]`
 * indexes), rejecting ids that are neither; each edit is recorded in `edits` and applied to the message.
 * Every accepted message is recorded in order, with its parsed payload and attachments. With a
 * `botToken`, the channel can be read back (https://discord.com/developers/docs/resources/message#get-channel-messages):
 * every webhook here posts into the one channel `channelId`.
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
  /** Get Channel Messages answers requests with `Authorization: Bot <botToken>`; unset = always 401. */
  readonly botToken?: string
  readonly channelId?: string
  /** Listen on this port of 127.0.0.1 (default: any free one). */
  readonly port?: number
  /**
   * Webhook id → bucket name: webhooks given the same name share one window and report the same
   * `X-RateLimit-Bucket`, as Discord does for routes that share a limit. Others have their own.
   */
  readonly sharedBuckets?: Readonly<Record<string, string>>
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
  /** Formatting, links and tags Discord would render in the embeds' text (see `markdownOf`). */
  readonly markdown: ReadonlyArray<string>
  /** The message's attachments now, with their ids (snowflakes, as Discord gives them). */
  readonly attachments: ReadonlyArray<{ readonly id: string; readonly filename: string }>
  /** How many edits the message has had. */
  readonly edits: number
  /** The thread it was posted into (`thread_id` query), if any. */
  readonly threadId?: string | null
}

export interface ReceivedEdit {
  readonly messageId: string
  readonly webhookId: string
  readonly at: number
  readonly payload: Record<string, unknown>
  readonly files: ReadonlyArray<ReceivedFile>
  readonly threadId: string | null
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
  total: 6000,
  files: 10
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
  if (fileNames.length > limits.files) errors.push("files: must be 10 or fewer in length")
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
  const allowed = payload["allowed_mentions"] as { parse?: Array<string>; roles?: Array<string> } | undefined
  const parse = allowed?.parse ?? ["everyone", "users", "roles"]
  const pings: Array<string> = []
  if (parse.includes("everyone")) pings.push(...(content.match(/@(everyone|here)/g) ?? []))
  if (parse.includes("users")) pings.push(...(content.match(/<@!?\d+>/g) ?? []))
  if (parse.includes("roles")) pings.push(...(content.match(/<@&\d+>/g) ?? []))
  // `roles` pings exactly the listed roles (https://discord.com/developers/docs/resources/message#allowed-mentions-object).
  else if (allowed?.roles !== undefined)
    pings.push(...(content.match(/<@&\d+>/g) ?? []).filter((role) => allowed.roles!.includes(role.slice(3, -1))))
  return pings
}

/**
 * The Markdown constructs Discord would render in `text`
 * (https://support.discord.com/hc/en-us/articles/210298617-Markdown-Text-101-Chat-Formatting-Bold-Italic-Underline),
 * after honouring backslash escapes (a backslash before any ASCII punctuation shows it literally).
 * Timestamps (`<t:…>`) aren't reported: they only format a number.
 */
export const renderedMarkdown = (text: string): Array<string> => {
  // Escaped characters become a placeholder, so no pattern below can match across them.
  const visible = text.replace(/\\[!-/:-@[-`{-~]/g, "\uE000")
  const constructs: Array<[string, RegExp]> = [
    ["bold", /\*\*(?=\S)[\s\S]*?\S\*\*/],
    ["italic", /(?:^|[^*\w])\*(?=[^\s*])[^*]*?[^\s*]?\*(?![*\w])/],
    ["underline", /__(?=\S)[\s\S]*?\S__/],
    ["italic", /(?:^|\W)_(?=\S)[^_]*?\S?_(?!\w)/],
    ["strikethrough", /~~(?=\S)[\s\S]*?\S~~/],
    ["spoiler", /\|\|[\s\S]+?\|\|/],
    ["code", /`[^`]+`/],
    ["heading", /^[ \t]*#{1,3}[ \t]+\S/m],
    ["subtext", /^[ \t]*-#[ \t]+\S/m],
    ["quote", /^[ \t]*>{1,3}[ \t]/m],
    ["list", /^[ \t]*(?:[-*+]|\d+\.)[ \t]+\S/m],
    ["masked link", /\[[^\]\uE000]*\]\(\s*<?[A-Za-z][\w+.-]*:/],
    ["link", /\b[A-Za-z][\w+.-]*:\/\/[^\s\uE000]/],
    ["tag", /<(?:@[!&]?\d|#\d|a?:\w+:\d|[A-Za-z][\w+.-]*:\/\/)/]
  ]
  return constructs.flatMap(([name, pattern]) => (pattern.test(visible) ? [name] : []))
}

/** Every embed text Discord renders Markdown in, with the constructs found: `embeds.0.title: masked link`. */
export const markdownOf = (payload: Json): Array<string> => {
  const embeds = Array.isArray(payload["embeds"]) ? (payload["embeds"] as Array<Json>) : []
  return embeds.flatMap((embed, i) => {
    const fields = Array.isArray(embed["fields"]) ? (embed["fields"] as Array<Json>) : []
    const texts: Array<[string, string]> = [
      ["title", str(embed["title"])],
      ["description", str(embed["description"])],
      ["footer.text", str((embed["footer"] as Json | undefined)?.["text"])],
      ["author.name", str((embed["author"] as Json | undefined)?.["name"])],
      ...fields.flatMap((field, j): Array<[string, string]> => [
        [`fields.${j}.name`, str(field["name"])],
        [`fields.${j}.value`, str(field["value"])]
      ])
    ]
    return texts.flatMap(([path, text]) => renderedMarkdown(text).map((name) => `embeds.${i}.${path}: ${name}`))
  })
}

/**
 * A message as one view per embed: a packed message (several alerts) reads like the messages it
 * replaces, each with its own embed and the file its image points at, all with the message's id.
 */
export const perEmbed = (message: ReceivedMessage): Array<ReceivedMessage> => {
  const embeds = Array.isArray(message.payload["embeds"]) ? (message.payload["embeds"] as Array<Json>) : []
  if (embeds.length <= 1) return [message]
  return embeds.map((embed) => {
    const image = str((embed["image"] as Json | undefined)?.["url"])
    const payload = { ...message.payload, embeds: [embed] }
    return {
      ...message,
      payload,
      files: message.files.filter((file) => image === `attachment://${file.filename}`),
      attachments: message.attachments.filter((file) => image === `attachment://${file.filename}`),
      markdown: markdownOf(payload)
    }
  })
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
    const settings = {
      limit: 5,
      windowMs: 2_000,
      globalPerSecond: 50,
      latencyMs: 0,
      keepFileData: false,
      channelId: "1",
      ...options
    }
    const messages: Array<ReceivedMessage> = []
    const edits: Array<ReceivedEdit> = []
    const requests: Array<RequestRecord> = []
    const windows = new Map<string, Window>()
    const globalTimes: Array<number> = []
    const deleted = new Set<string>()
    /** Webhooks whose token was reset: only this token is accepted. */
    const tokens = new Map<string, string>()
    /**
     * Scripted answers, for one webhook or (`webhookId` null) any; `garbage` ones carry an HTML body
     * instead of JSON (a broken proxy in the way).
     */
    const scriptedFailures: Array<{
      readonly status: number
      readonly garbage: boolean
      readonly webhookId: string | null
    }> = []
    /** Webhook id → how many next requests get a user-scope 429 with this `retry_after`. */
    const scriptedRateLimits = new Map<string, { count: number; retryAfterMs: number }>()
    let globalBlockedUntil = 0
    let globalBlockFromNextMs: number | null = null
    const holding = new Set<string>()
    const held: Array<() => void> = []
    let nextId = 1_000_000_000_000_000n
    /** While set, every webhook request that passes the rate limits is answered with this status. */
    let outageStatus: number | null = null
    /** This many next webhook requests get no answer until the client gives up; the message is created then. */
    let late = 0
    let arrivals = 0
    let channelReads = 0

    const send = (res: ServerResponse, status: number, headers: Record<string, string>, body?: unknown) => {
      res.writeHead(status, { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) })
      res.end(body === undefined ? undefined : JSON.stringify(body))
    }

    /** Get Channel Messages: newest first, `limit` 1–100 (default 50). */
    const readChannel = (req: IncomingMessage, res: ServerResponse, url: URL, channelId: string) => {
      channelReads += 1
      if (settings.botToken === undefined || req.headers.authorization !== `Bot ${settings.botToken}`)
        return send(res, 401, {}, { message: "401: Unauthorized", code: 0 })
      if (channelId !== settings.channelId) return send(res, 404, {}, { message: "Unknown Channel", code: 10003 })
      const limit = Number(url.searchParams.get("limit") ?? 50)
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        return send(res, 400, {}, { message: "Invalid Form Body", code: 50035 })
      return send(
        res,
        200,
        {},
        messages
          .slice(-limit)
          .reverse()
          .map((message) => ({
            id: message.id,
            type: 0,
            channel_id: settings.channelId,
            webhook_id: message.webhookId,
            content: message.payload["content"] ?? "",
            embeds: message.payload["embeds"] ?? [],
            timestamp: new Date(message.at).toISOString()
          }))
      )
    }

    /**
     * Edit Webhook Message: the message must exist and come from this webhook (else 404 / 10008).
     * Without `attachments` the old ones stay and new files are appended; with it, exactly the listed
     * ones remain: existing attachment ids, or indexes of `files[n]` uploaded now.
     */
    const applyEdit = (
      res: ServerResponse,
      headers: Record<string, string>,
      webhookId: string,
      messageId: string,
      url: URL,
      parsed: { readonly payload: Json; readonly files: ReadonlyArray<ReceivedFile> },
      record: (webhookId: string, status: number) => void
    ) => {
      const index = messages.findIndex((message) => message.id === messageId && message.webhookId === webhookId)
      if (index === -1) {
        record(webhookId, 404)
        return send(res, 404, headers, { message: "Unknown Message", code: 10008 })
      }
      const current = messages[index]!
      const uploaded = parsed.files.map((file, n) => ({ id: `${nextId++}`, filename: file.filename, n }))
      const listed = parsed.payload["attachments"]
      const errors: Array<string> = []
      let attachments: Array<{ id: string; filename: string }>
      if (Array.isArray(listed)) {
        attachments = []
        for (const [i, entry] of (listed as Array<Json>).entries()) {
          const id = entry?.["id"]
          const existing = current.attachments.find((attachment) => attachment.id === String(id))
          const fresh = uploaded.find((file) => String(file.n) === String(id))
          if (existing !== undefined) attachments.push(existing)
          else if (fresh !== undefined) attachments.push({ id: fresh.id, filename: fresh.filename })
          else errors.push(`attachments.${i}.id: unknown attachment ${String(id)}`)
        }
      } else {
        attachments = [...current.attachments, ...uploaded.map(({ id, filename }) => ({ id, filename }))]
      }
      const payload = { ...current.payload, ...parsed.payload }
      errors.push(
        ...validateMessage(
          payload,
          attachments.map((attachment) => attachment.filename)
        )
      )
      if (errors.length > 0) {
        record(webhookId, 400)
        return send(res, 400, headers, { message: "Invalid Form Body", code: 50035, errors })
      }
      const fileById = new Map<string, ReceivedFile>([
        ...current.attachments.flatMap((attachment, n): Array<[string, ReceivedFile]> => {
          const file = current.files[n]
          return file === undefined ? [] : [[attachment.id, file]]
        }),
        ...uploaded.map(({ id, n }): [string, ReceivedFile] => [id, parsed.files[n]!])
      ])
      const now = Date.now()
      messages[index] = {
        ...current,
        payload,
        // Attachments and files share their order: a message's files are its attachments' bytes.
        files: attachments.flatMap((attachment) => {
          const file = fileById.get(attachment.id)
          return file === undefined ? [] : [file]
        }),
        attachments,
        pinged: pingsOf(payload),
        markdown: markdownOf(payload),
        edits: current.edits + 1
      }
      edits.push({
        messageId,
        webhookId,
        at: now,
        payload: parsed.payload,
        files: parsed.files,
        threadId: url.searchParams.get("thread_id")
      })
      record(webhookId, 200)
      return send(res, 200, headers, {
        id: messageId,
        type: 0,
        webhook_id: webhookId,
        channel_id: settings.channelId,
        embeds: payload["embeds"] ?? [],
        attachments,
        edited_timestamp: new Date(now).toISOString()
      })
    }

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://fake.local")
      const channel = /^\/api\/v10\/channels\/(\d+)\/messages$/.exec(url.pathname)
      if (req.method === "GET" && channel !== null) return readChannel(req, res, url, channel[1]!)
      const editMatch = /^\/api\/webhooks\/(\d+)\/([\w-]+)\/messages\/(\d+)$/.exec(url.pathname)
      const match = editMatch ?? /^\/api\/webhooks\/(\d+)\/([\w-]+)$/.exec(url.pathname)
      const editing = editMatch !== null && req.method === "PATCH"
      const body = await readBody(req)
      arrivals += 1
      // A late answer is the message Discord did create; scripted failures are for the requests after it.
      const answeredLate = match !== null && late > 0
      if (answeredLate) {
        late -= 1
        if (!req.socket.destroyed) await new Promise((resolve) => res.once("close", resolve))
      }
      if (settings.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, settings.latencyMs))
      const now = Date.now()
      const record = (webhookId: string, status: number, scope: string | null = null) =>
        requests.push({ at: now, webhookId, status, scope })
      if (
        match === null ||
        (editMatch === null && req.method !== "POST" && req.method !== "GET") ||
        (editMatch !== null && !editing)
      ) {
        record("", 404)
        return send(res, 404, {}, { message: "404: Not Found", code: 0 })
      }
      const webhookId = match[1]!
      if (deleted.has(webhookId)) {
        record(webhookId, 404)
        return send(res, 404, {}, { message: "Unknown Webhook", code: 10015 })
      }
      const token = tokens.get(webhookId)
      if (token !== undefined && token !== match[2]) {
        record(webhookId, 401)
        return send(res, 401, {}, { message: "Invalid Webhook Token", code: 50027 })
      }
      // Get Webhook with Token (https://discord.com/developers/docs/resources/webhook#get-webhook-with-token)
      if (req.method === "GET") {
        record(webhookId, 200)
        return send(
          res,
          200,
          {},
          { id: webhookId, type: 1, name: "Fake webhook", channel_id: "1", guild_id: "1", token: match[2] }
        )
      }

      // Global limit: no bucket headers, X-RateLimit-Global and scope "global".
      if (globalBlockFromNextMs !== null) {
        globalBlockedUntil = now + globalBlockFromNextMs
        globalBlockFromNextMs = null
      }
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

      const bucketName = settings.sharedBuckets?.[webhookId] ?? `bucket-${webhookId.slice(-6)}`
      let window = windows.get(bucketName)
      if (window === undefined || now >= window.start + settings.windowMs) {
        window = { start: now, count: 0 }
        windows.set(bucketName, window)
      }
      const resetAfter = (window.start + settings.windowMs - now) / 1000
      const bucketHeaders = (remaining: number) => ({
        "x-ratelimit-limit": String(settings.limit),
        "x-ratelimit-remaining": String(remaining),
        "x-ratelimit-reset": ((window.start + settings.windowMs) / 1000).toFixed(3),
        "x-ratelimit-reset-after": resetAfter.toFixed(3),
        "x-ratelimit-bucket": bucketName
      })
      const limited = scriptedRateLimits.get(webhookId)
      if (limited !== undefined && limited.count > 0) {
        limited.count -= 1
        const retryAfter = limited.retryAfterMs / 1000
        record(webhookId, 429, "user")
        return send(
          res,
          429,
          { ...bucketHeaders(0), "retry-after": String(Math.ceil(retryAfter)), "x-ratelimit-scope": "user" },
          { message: "You are being rate limited.", retry_after: retryAfter, global: false }
        )
      }
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

      const scriptIndex = answeredLate
        ? -1
        : scriptedFailures.findIndex((entry) => entry.webhookId === null || entry.webhookId === webhookId)
      const scripted = scriptIndex === -1 ? undefined : scriptedFailures.splice(scriptIndex, 1)[0]
      if (scripted !== undefined) {
        record(webhookId, scripted.status)
        if (!scripted.garbage) return send(res, scripted.status, headers, { message: "scripted failure", code: 0 })
        res.writeHead(scripted.status, { ...headers, "content-type": "text/html" })
        return res.end("<html><body><h1>upstream sent garbage</h1>\u0000\u0001</body></html>")
      }
      if (outageStatus !== null && !answeredLate) {
        record(webhookId, outageStatus)
        return send(res, outageStatus, headers, { message: "outage", code: 0 })
      }

      let parsed: Awaited<ReturnType<typeof parseBody>>
      try {
        parsed = await parseBody(req, body, settings.keepFileData)
      } catch {
        record(webhookId, 400)
        return send(res, 400, headers, { message: "Invalid Form Body", code: 50035, errors: { _errors: ["bad body"] } })
      }
      if (editing) return applyEdit(res, headers, webhookId, editMatch[3]!, url, parsed, record)
      const errors = validateMessage(
        parsed.payload,
        parsed.files.map((file) => file.filename)
      )
      if (errors.length > 0) {
        record(webhookId, 400)
        return send(res, 400, headers, { message: "Invalid Form Body", code: 50035, errors })
      }
      const id = String(nextId++)
      const attachments = parsed.files.map((file, index) => ({ id: `${id}${index}`, filename: file.filename }))
      messages.push({
        id,
        webhookId,
        at: now,
        payload: parsed.payload,
        files: parsed.files,
        multipart: parsed.multipart,
        pinged: pingsOf(parsed.payload),
        markdown: markdownOf(parsed.payload),
        attachments,
        edits: 0,
        threadId: url.searchParams.get("thread_id")
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
          attachments
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
        server.listen(settings.port ?? 0, "127.0.0.1", () => resume(Effect.succeed(server)))
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
      /** DISCORD_API_BASE_URL for this server (Get Channel Messages). */
      apiBaseUrl: `${base}/api/v10`,
      /** A webhook URL on this server; the token is arbitrary. */
      webhookUrl: (id = "123456789012345678", token = "fake-token") => `${base}/api/webhooks/${id}/${token}`,
      messages: messages as ReadonlyArray<ReceivedMessage>,
      /** Accepted edits (PATCH), in order. */
      edits: edits as ReadonlyArray<ReceivedEdit>,
      requests: requests as ReadonlyArray<RequestRecord>,
      /** The next `count` requests (to `webhookId`, default any) that pass the rate limits are answered with `status`. */
      failNext: (count: number, status = 500, webhookId: string | null = null) => {
        for (let i = 0; i < count; i++) scriptedFailures.push({ status, garbage: false, webhookId })
      },
      /** The next `count` requests to `webhookId` are answered with a user-scope 429 asking to wait `retryAfterMs`. */
      rateLimitNext: (count: number, retryAfterMs: number, webhookId: string) => {
        scriptedRateLimits.set(webhookId, { count, retryAfterMs })
      },
      /** Like `failNext`, with an HTML body instead of JSON. */
      garbageNext: (count: number, status = 200, webhookId: string | null = null) => {
        for (let i = 0; i < count; i++) scriptedFailures.push({ status, garbage: true, webhookId })
      },
      /** Forgets recorded messages and requests, so a long run keeps constant memory. */
      clearRecords: () => {
        messages.length = 0
        edits.length = 0
        requests.length = 0
      },
      /** The message is deleted from the channel: its edits answer 404 / 10008. */
      deleteMessage: (id: string) => {
        const index = messages.findIndex((message) => message.id === id)
        if (index !== -1) messages.splice(index, 1)
      },
      /** The webhook answers 404 / 10015 from now on. */
      deleteWebhook: (id: string) => deleted.add(id),
      /** Only `token` is valid for the webhook from now on; any other answers 401 / 50027. */
      setToken: (id: string, token: string) => tokens.set(id, token),
      /** Every request is answered with a global 429 for this long. */
      blockGlobally: (ms: number) => {
        globalBlockedUntil = Date.now() + ms
      },
      /** Like `blockGlobally`, but the block starts with the next request, however late it comes. */
      blockGloballyFromNextRequest: (ms: number) => {
        globalBlockFromNextMs = ms
      },
      setLatency: (ms: number) => {
        settings.latencyMs = ms
      },
      /** Every webhook request is answered with `status` until `endOutage`. */
      outage: (status = 503) => {
        outageStatus = status
      },
      endOutage: () => {
        outageStatus = null
      },
      /** The next `count` webhook requests are answered only after the client gave up; their messages are still created. */
      answerLate: (count: number) => {
        late += count
      },
      /** Webhook requests that reached the server, answered or not yet. */
      arrivals: () => arrivals,
      /** Get Channel Messages requests, authorised or not. */
      channelReads: () => channelReads,
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
