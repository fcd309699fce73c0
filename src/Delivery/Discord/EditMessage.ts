import type { EditEntry } from "../AlertSink.js"
import { alertMessage, enforceLimits, type WebhookFile, type WebhookMessage } from "./Embed.js"

/**
 * The whole message an edit sends (https://discord.com/developers/docs/resources/webhook#edit-webhook-message):
 * every alert it carries, one embed each in id order, and every chart again. With files, `attachments`
 * must list each attachment to keep; listing only the files uploaded now replaces the old ones, so
 * the message ends up with exactly the charts its embeds point at.
 */
export const editedMessage = (entries: ReadonlyArray<EditEntry>): WebhookMessage => {
  const files: Array<WebhookFile> = []
  const embeds = entries.flatMap((entry) => {
    const message = alertMessage(entry.alert, entry.chart, { id: entry.id, possibleRepeat: entry.possibleRepeat })
    const [file] = message.files
    if (file === undefined) return message.payload.embeds ?? []
    // Two alerts' charts could share a name; each embed must point at its own.
    const name = files.some((other) => other.name === file.name) ? `${files.length}-${file.name}` : file.name
    files.push({ ...file, name })
    return (message.payload.embeds ?? []).map((embed) => ({ ...embed, image: { url: `attachment://${name}` } }))
  })
  return {
    payload: enforceLimits({
      embeds,
      allowed_mentions: { parse: [] },
      attachments: files.map((file, index) => ({ id: index, filename: file.name }))
    }),
    files
  }
}
