/**
 * HTML built only through the `html` template: every interpolated string is escaped, so a headline,
 * a reason or an error message from a feed is always text, never markup. Only `Html` values (built
 * by this same template) are inserted as they are.
 */
export class Html {
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup
  }
}

export type Interpolation = Html | string | number | boolean | null | undefined | ReadonlyArray<Interpolation>

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }

/** Text for element content and quoted attribute values (https://html.spec.whatwg.org/#escapingString). */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => entities[char]!)

const render = (value: Interpolation): string => {
  if (value instanceof Html) return value.markup
  if (value === null || value === undefined || value === false) return ""
  if (Array.isArray(value)) return value.map(render).join("")
  return escapeHtml(String(value))
}

export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Interpolation>): Html =>
  new Html(
    strings.reduce((out, string, index) => out + string + (index < values.length ? render(values[index]) : ""), "")
  )

/** A link target from a feed: http(s) only, so a `javascript:` link can never run. */
export const safeHref = (url: string): string => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : "#"
  } catch {
    return "#"
  }
}
