import type { Alert, ChartOutcome } from "../../Kernel/Domain.js"
import { filingLabel, isUpdated } from "../AlertLinks.js"
import { exhibitLine, offeringLine, ownershipLine } from "../FilingFacts.js"
import type { PackItem, PackLimits } from "../Pack.js"
import { escapeMarkdown as md } from "./Markdown.js"
import { clusterNote, insiderSentence, sizeFacts, watchlistLine } from "../AlertFacts.js"

/**
 * Discord message limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
 * Every embed string counts towards `total`, summed over the message, or Discord answers 400 / 50035.
 */
export const Limits = {
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
} as const

export interface EmbedField {
  readonly name: string
  readonly value: string
  readonly inline?: boolean
}

export interface Embed {
  readonly title?: string
  readonly url?: string
  readonly description?: string
  readonly color?: number
  readonly timestamp?: string
  readonly fields?: ReadonlyArray<EmbedField>
  readonly footer?: { readonly text: string }
  readonly author?: { readonly name: string }
  readonly image?: { readonly url: string }
}

export interface WebhookPayload {
  readonly content?: string
  readonly username?: string
  readonly embeds?: ReadonlyArray<Embed>
  /**
   * `{ parse: [] }`: text from a feed must never ping @everyone, a role or a user. A route's own
   * mentions (ROUTES_FILE) add exactly its roles, or "everyone" for its `@here`, and nothing else.
   */
  readonly allowed_mentions: { readonly parse: ReadonlyArray<"everyone">; readonly roles?: ReadonlyArray<string> }
  /** Forum channels: the post opens a thread of this name. */
  readonly thread_name?: string
  readonly attachments?: ReadonlyArray<{ readonly id: number; readonly filename: string }>
}

export interface WebhookFile {
  readonly name: string
  readonly data: Uint8Array
  readonly contentType: string
}

export interface WebhookMessage {
  readonly payload: WebhookPayload
  readonly files: ReadonlyArray<WebhookFile>
}

const ellipsis = "…"

/** Backslashes just before `end`; an odd count means the last one escapes the character at `end`. */
const backslashesBefore = (text: string, end: number) => {
  let count = 0
  while (end - count > 0 && text.charCodeAt(end - count - 1) === 0x5c) count += 1
  return count
}

/**
 * At most `max` UTF-16 code units (stricter than Discord's character count), ending in "…" when cut.
 * Never splits a surrogate pair, so an emoji is either whole or gone, nor a Markdown escape, whose
 * backslash would otherwise be left to act on the ellipsis.
 */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  if (max <= 0) return ""
  let end = max - ellipsis.length
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end -= 1
  let kept = text.slice(0, Math.max(0, end)).trimEnd()
  if (backslashesBefore(kept, kept.length) % 2 === 1) kept = kept.slice(0, -1).trimEnd()
  return kept + ellipsis
}

const embedLength = (embed: Embed): number =>
  (embed.title?.length ?? 0) +
  (embed.description?.length ?? 0) +
  (embed.footer?.text.length ?? 0) +
  (embed.author?.name.length ?? 0) +
  (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0)

/** Characters Discord counts towards the 6000 total, over every embed in the message. */
export const messageLength = (payload: WebhookPayload): number =>
  (payload.embeds ?? []).reduce((sum, embed) => sum + embedLength(embed), 0)

/** Discord rejects empty field names and values. */
const nonEmpty = (text: string) => (text.trim() === "" ? "—" : text.trim())

const clampEmbed = (embed: Embed): Embed => ({
  ...embed,
  ...(embed.title !== undefined && { title: truncate(embed.title.trim(), Limits.title) }),
  ...(embed.description !== undefined && { description: truncate(embed.description.trim(), Limits.description) }),
  ...(embed.footer !== undefined && { footer: { text: truncate(embed.footer.text.trim(), Limits.footer) } }),
  ...(embed.author !== undefined && { author: { name: truncate(embed.author.name.trim(), Limits.author) } }),
  ...(embed.fields !== undefined && {
    fields: embed.fields.slice(0, Limits.fields).map((field) => ({
      ...field,
      name: truncate(nonEmpty(field.name), Limits.fieldName),
      value: truncate(nonEmpty(field.value), Limits.fieldValue)
    }))
  })
})

/**
 * Applies every documented limit. When the total is still over 6000, the description gives way
 * first (it is the longest and least essential), then fields from the end, then the footer.
 */
export const enforceLimits = (payload: WebhookPayload): WebhookPayload => {
  const embeds = (payload.embeds ?? []).slice(0, Limits.embeds).map(clampEmbed)
  let excess = embeds.reduce((sum, embed) => sum + embedLength(embed), 0) - Limits.total
  const shrunk = embeds.map((original) => {
    let embed = original
    if (excess > 0 && embed.description !== undefined) {
      const keep = Math.max(0, embed.description.length - excess)
      const description = truncate(embed.description, keep)
      excess -= embed.description.length - description.length
      embed = { ...embed, description }
    }
    while (excess > 0 && embed.fields !== undefined && embed.fields.length > 0) {
      const last = embed.fields[embed.fields.length - 1]!
      excess -= last.name.length + last.value.length
      embed = { ...embed, fields: embed.fields.slice(0, -1) }
    }
    if (excess > 0 && embed.footer !== undefined) {
      excess -= embed.footer.text.length
      const { footer: _dropped, ...rest } = embed
      embed = rest
    }
    return embed
  })
  return {
    ...payload,
    ...(payload.content !== undefined && { content: truncate(payload.content, Limits.content) }),
    embeds: shrunk,
    allowed_mentions: { parse: [] }
  }
}

const colours = { positive: 0x2ecc71, neutral: 0x95a5a6, negative: 0xe74c3c } as const

const signed = (n: number, digits: number) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`

const compact = (n: number) =>
  new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(n)

const isHttpUrl = (value: string) => {
  try {
    return ["http:", "https:"].includes(new URL(value).protocol)
  } catch {
    return false
  }
}

const formatLatency = (ms: number): string => {
  if (ms < 0) return "—"
  const seconds = Math.round(ms / 1000)
  if (seconds < 120) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  return minutes < 120 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`
}

const marketFields = (alert: Alert): Array<EmbedField> => {
  switch (alert.market._tag) {
    case "Priced": {
      const { price, changePct, volume, relativeVolume } = alert.market.quote
      return [
        { name: "Price", value: `$${price.toFixed(price < 1 ? 4 : 2)}`, inline: true },
        { name: "Change", value: changePct === null ? "—" : `${signed(changePct, 1)}%`, inline: true },
        relativeVolume !== null
          ? {
              name: "Volume",
              value: `${volume === null ? "" : `${compact(volume)} · `}${relativeVolume.toFixed(1)}× rel`,
              inline: true
            }
          : { name: "Volume", value: volume === null ? "—" : compact(volume), inline: true }
      ]
    }
    case "UnknownSymbol":
      return [{ name: "Price", value: `unknown symbol ${md(alert.market.symbol)}`, inline: true }]
    case "PriceUnavailable":
      return [{ name: "Price", value: "⚠️ price unavailable", inline: true }]
  }
}

/** The LLM's category first, then the keyword ones, each once. */
const categoriesOf = (alert: Alert, llmCategory: string | undefined): string => {
  const names = [llmCategory, ...alert.classification.categories].flatMap((name) => name?.trim() || [])
  const unique = names.filter(
    (name, index) => names.findIndex((other) => other.toLowerCase() === name.toLowerCase()) === index
  )
  return unique.map(md).join(", ") || "uncategorised"
}

/** A Markdown link to `url` (checked to be http(s), its parentheses encoded), or the bare `text` when it isn't one. */
const maskedLink = (text: string, url: string) =>
  isHttpUrl(url) ? `[${text}](${new URL(url).href.replace(/\(/g, "%28").replace(/\)/g, "%29")})` : text

/** Items edited into the alert later: the other half of its event, and updates of its story. */
const linkedFields = (alert: Alert): Array<EmbedField> =>
  (alert.linked ?? []).map((linked): EmbedField => {
    switch (linked.relation) {
      case "filing":
        return { name: "📄 Also filed", value: maskedLink(md(filingLabel(linked)), linked.link) }
      case "press-release":
        return { name: "📰 Press release", value: maskedLink(md(linked.title), linked.link) }
      case "update":
        return {
          name: "✏️ Updated",
          value: maskedLink(md(linked.formType === undefined ? linked.title : filingLabel(linked)), linked.link)
        }
    }
  })

/** The alert's outbox id in its footer: what a read of the channel looks for after an ambiguous send. */
export const alertIdTag = (id: number): string => `id ${id}`

export const footerCarriesId = (footer: string, id: number): boolean => footer.split(" · ").includes(alertIdTag(id))

/**
 * The Discord message for one alert; the chart, when rendered, rides along as `files[0]`. With `send`,
 * the footer carries the alert's id, and a send that may repeat an earlier one says so. Every string
 * from a feed or the LLM is Markdown-escaped: the only link is the embed's own `url`.
 */
export const alertMessage = (
  alert: Alert,
  chart: ChartOutcome,
  send?: { readonly id: number; readonly possibleRepeat: boolean }
): WebhookMessage => {
  const { item, classification, ticker } = alert
  const llm = classification.llm._tag === "Analysed" ? classification.llm.analysis : null
  const warning = `${isUpdated(alert) ? "🔄 Updated · " : ""}${alert.watchlist === undefined ? "" : "👀 Watchlist · "}${classification.negative ? "⚠️ NEGATIVE · " : ""}`
  const published = item.published === null ? null : Date.parse(item.published)
  const latency = published === null || Number.isNaN(published) ? null : Date.parse(alert.decidedAt) - published
  const sentiment = llm?.sentiment ?? classification.sentiment
  const colour = classification.negative || sentiment < -0.1 ? "negative" : sentiment > 0.1 ? "positive" : "neutral"

  const fields: Array<EmbedField> = [
    ...marketFields(alert),
    { name: "Category", value: categoriesOf(alert, llm?.category), inline: true },
    { name: "Score", value: classification.score.toFixed(2), inline: true },
    { name: "Sentiment", value: signed(sentiment, 2), inline: true },
    { name: "Source", value: md(item.source), inline: true },
    {
      name: "Published",
      value: published === null || Number.isNaN(published) ? "unknown" : `<t:${Math.floor(published / 1000)}:T>`,
      inline: true
    },
    { name: "Detection latency", value: latency === null ? "—" : formatLatency(latency), inline: true }
  ]
  if (alert.watchlist !== undefined) fields.push({ name: "👀 Watchlist", value: watchlistLine(alert.watchlist, md) })
  if (item.sec !== undefined) {
    // "8-K/A" amends an earlier filing: readers should not take it for a new event.
    const amendment = /\/A$/i.test(item.sec.formType) ? " (amendment)" : ""
    fields.push({ name: "Form", value: `${md(item.sec.formType)}${amendment}`, inline: true })
    if (item.sec.items.length > 0) fields.push({ name: "Items", value: item.sec.items.map(md).join("\n") })
  }
  if (alert.insider !== undefined) {
    const cluster = clusterNote(alert.insider)
    fields.push({
      name: "Insider",
      value: `${insiderSentence(alert.insider, md)}${cluster === null ? "" : `\n🔥 ${cluster}`}`
    })
  }
  if (alert.size !== undefined) {
    for (const fact of sizeFacts(alert.size)) fields.push({ ...fact, inline: true })
  }
  if (alert.ownership !== undefined) fields.push({ name: "Stake", value: ownershipLine(alert.ownership, md) })
  if (alert.offering !== undefined) fields.push({ name: "Offering", value: offeringLine(alert.offering) })
  if (alert.exhibit !== undefined)
    fields.push({ name: "Press release (EX-99.1)", value: exhibitLine(alert.exhibit, md) })
  fields.push(...linkedFields(alert))
  if (chart._tag === "Failed") fields.push({ name: "Chart", value: `⚠️ chart unavailable: ${md(chart.reason)}` })
  if (classification.llm._tag === "Pending") fields.push({ name: "LLM", value: "⏳ analysis pending", inline: true })
  if (alert.llmVeto !== undefined) {
    fields.push({ name: "⚠️ LLM verdict", value: `LLM_MODE=gate would not have sent this: ${md(alert.llmVeto)}` })
  }
  if (llm !== null && llm.key_facts.length > 0) {
    fields.push({ name: "Key facts", value: llm.key_facts.map((fact) => `• ${md(fact)}`).join("\n") })
  }
  if (send?.possibleRepeat === true) {
    fields.push({ name: "🔁 Possible repeat", value: "An earlier send of this alert may have arrived unconfirmed." })
  }

  const files: Array<WebhookFile> =
    chart._tag === "Rendered" ? [{ name: chart.chart.filename, data: chart.chart.png, contentType: "image/png" }] : []
  const payload: WebhookPayload = {
    embeds: [
      {
        title: `${warning}${md(ticker.symbol)}${ticker.exchange ? ` (${md(ticker.exchange)})` : ""} — ${md(item.title)}`,
        ...(isHttpUrl(item.link) && { url: item.link }),
        description: md(llm?.summary ?? item.summary),
        color: colours[colour],
        fields,
        footer: {
          text: [
            "catalyst-bot",
            md(item.source),
            ...(send === undefined ? [] : [alertIdTag(send.id)]),
            ...(send?.possibleRepeat === true ? ["possible repeat"] : [])
          ].join(" · ")
        },
        ...(published !== null && !Number.isNaN(published) && { timestamp: new Date(published).toISOString() }),
        ...(files[0] !== undefined && { image: { url: `attachment://${files[0].name}` } })
      }
    ],
    allowed_mentions: { parse: [] },
    ...(files[0] !== undefined && { attachments: [{ id: 0, filename: files[0].name }] })
  }
  return { payload: enforceLimits(payload), files }
}

/**
 * What one message may carry when alerts share it
 * (https://discord.com/developers/docs/resources/message#create-message): 10 embeds, 6000 characters
 * over all of them, 10 files (`files[0]`…`files[9]`), 25 MiB per request.
 */
export const packLimits: PackLimits = {
  items: Limits.embeds,
  chars: Limits.total,
  files: 10,
  bytes: 25 * 1024 * 1024
}

/** What one alert's own message adds to a packed one. */
export const packItemOf = (message: WebhookMessage): PackItem => ({
  chars: messageLength(message.payload),
  files: message.files.length,
  bytes: message.files.reduce((sum, file) => sum + file.data.length, 0)
})

/**
 * One message carrying several alerts' messages, their embeds in the order given (outbox id order),
 * each embed's image pointing at its own file. A file name already taken in the message (two charts
 * of one ticker) gets its embed's position as a prefix, so the names follow from the order alone.
 */
export const packedMessage = (messages: ReadonlyArray<WebhookMessage>): WebhookMessage => {
  const files: Array<WebhookFile> = []
  const embeds = messages.flatMap((message, position) => {
    const renamed = new Map<string, string>()
    for (const file of message.files) {
      const taken = files.some((other) => other.name === file.name)
      const name = taken ? `${position}_${file.name}` : file.name
      renamed.set(file.name, name)
      files.push({ ...file, name })
    }
    return (message.payload.embeds ?? []).map((embed): Embed => {
      const image = embed.image?.url.startsWith("attachment://") ? embed.image.url.slice("attachment://".length) : null
      const name = image === null ? undefined : renamed.get(image)
      return name === undefined ? embed : { ...embed, image: { url: `attachment://${name}` } }
    })
  })
  return {
    payload: {
      embeds,
      allowed_mentions: { parse: [] },
      ...(files.length > 0 && { attachments: files.map((file, id) => ({ id, filename: file.name })) })
    },
    files
  }
}

/**
 * A plain operator notice (admin channel): one embed, same limits and mention safety. Notices quote
 * headlines and error text, so both are Markdown-escaped like alerts.
 */
export const noticeMessage = (title: string, detail: string, colour: number = colours.neutral): WebhookMessage => ({
  payload: enforceLimits({
    embeds: [{ title: md(title), description: md(detail), color: colour, footer: { text: "catalyst-bot admin" } }],
    allowed_mentions: { parse: [] }
  }),
  files: []
})

export const NoticeColours = { info: 0x3498db, warning: 0xf1c40f, error: colours.negative } as const
