/**
 * Discord renders Markdown in embed titles, descriptions and field values
 * (https://support.discord.com/hc/en-us/articles/210298617-Markdown-Text-101-Chat-Formatting-Bold-Italic-Underline):
 * `**bold**`, `*italic*`, `__underline__`, `~~strike~~`, `||spoiler||`, `` `code` `` and fences,
 * `#` headings, `-#` subtext, `>` quotes and lists at the start of a line, masked links
 * `[text](url)`, `<@id>`/`<#id>`/`<t:…>` tags and bare `https://` URLs, which become links.
 * A backslash before any of these characters shows it literally, so feed text is escaped with one:
 * a headline can then never format the alert or carry a link of its own.
 */

/** Markup characters wherever they appear; a backslash first, so a feed's own `\*` can't undo an escape. */
const anywhere = /[\\*_~|`[\]<]/g
/** Headings, subtext, quotes and bullet lists only start a line. */
const lineStart = /^([ \t]*)([#>+-])/gm
/** `1. ` starts an ordered list. */
const orderedList = /^([ \t]*\d+)\.(?=[ \t])/gm
/** `scheme://` is turned into a link; `scheme\://` is not. */
const autolink = /([A-Za-z][A-Za-z0-9+.-]*):(?=\/\/)/g

/** The text as Discord will show it, character for character, with no formatting, links or tags. */
export const escapeMarkdown = (text: string): string =>
  text.replace(anywhere, "\\$&").replace(lineStart, "$1\\$2").replace(orderedList, "$1\\.").replace(autolink, "$1\\:")
