import { decodeHTML } from "entities"

const invisibleBlocks = /<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi
const tags = /<\/?[a-z][^>]*>/gi

/** Feed text fields carry HTML (escaped or CDATA): drop tags and scripts, decode entities, collapse spaces. */
export const htmlToText = (html: string): string => {
  const text = html.includes("<") ? html.replace(invisibleBlocks, " ").replace(tags, " ") : html
  return (text.includes("&") ? decodeHTML(text) : text).replace(/\s+/g, " ").trim()
}

/** RFC 822 (RSS, possibly without seconds) or ISO 8601 (Atom, RDF dc:date) → ISO 8601 in UTC, or null. */
export const parseDate = (raw: string | null | undefined): string | null => {
  if (raw === null || raw === undefined || raw.trim() === "") return null
  const time = Date.parse(raw.trim())
  return Number.isNaN(time) ? null : new Date(time).toISOString()
}

/** Relative links are resolved against the feed's own link, then the URL it was fetched from. */
export const resolveUrl = (link: string | null | undefined, ...bases: ReadonlyArray<string | null>): URL | null => {
  const trimmed = link?.trim()
  if (!trimmed) return null
  for (const base of [null, ...bases]) {
    try {
      const url = base === null ? new URL(trimmed) : new URL(trimmed, base)
      if (url.protocol === "http:" || url.protocol === "https:") return url
    } catch {
      /* try the next base */
    }
  }
  return null
}
