import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { AlertSink } from "../src/Delivery/AlertSink.js"
import * as DiscordSink from "../src/Delivery/AlertSink/Discord.js"
import { DiscordWebhooks } from "../src/Delivery/Discord/DiscordWebhooks.js"
import { alertMessage, Limits, noticeMessage, truncate } from "../src/Delivery/Discord/Embed.js"
import { escapeMarkdown } from "../src/Delivery/Discord/Markdown.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import type { Alert } from "../src/Kernel/Domain.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { makeFakeDiscord, markdownOf, renderedMarkdown } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"
import { tempDataConfig } from "./support/TestLayers.js"

const headline = "[click here](https://evil.example) **BUY** ||x|| # Heading"
const summary = [
  "# Breaking",
  "> quoted *claim* and __underlined__ ~~struck~~ text",
  "- first",
  "1. second",
  "-# small print",
  "```",
  "fenced `code`",
  "```",
  "see https://evil.example/raw and <https://evil.example/angle> or <@123456789012345678> <#42> <:pepe:9>",
  "a \\**sneaky** backslash and _italic_ words"
].join("\n")

/** What Discord shows for escaped text: each backslash-escaped punctuation character as itself. */
const shown = (text: string) => text.replace(/\\([!-/:-@[-`{-~])/g, "$1")

const hostile = (overrides: Partial<Alert["item"]> = {}): Alert => {
  const base = alertFixture(7)
  return {
    ...base,
    item: { ...base.item, title: headline, summary, source: "Wire **X**", ...overrides },
    ticker: { symbol: "T7", exchange: "OTC ||Pink||" },
    classification: {
      ...base.classification,
      categories: ["fda_approval", "*bold*"],
      llm: {
        _tag: "Analysed",
        cached: false,
        analysis: {
          category: "`code`",
          sentiment: 0.4,
          confidence: 0.9,
          summary: `${summary}\n[more](https://evil.example/more)`,
          key_facts: ["**$5M** deal", "# big", "[x](https://evil.example)"],
          is_material: true
        }
      }
    }
  }
}

describe("feed text reaches Discord as plain text", () => {
  it("the fake's Markdown check finds what Discord would render, and nothing once escaped", () => {
    expect(renderedMarkdown(headline)).toEqual(expect.arrayContaining(["bold", "spoiler", "masked link", "link"]))
    expect(renderedMarkdown(summary)).toEqual(
      expect.arrayContaining(["heading", "quote", "list", "subtext", "code", "underline", "strikethrough", "tag"])
    )
    for (const text of [headline, summary, "\\\\**x**", "a_b_c *d* 2. e"]) {
      const escaped = escapeMarkdown(text)
      expect(renderedMarkdown(escaped)).toEqual([])
      expect(shown(escaped)).toBe(text)
    }
  })

  it("escapes every feed-derived string in the alert embed; the only link is the embed url", () => {
    const { payload } = alertMessage(hostile({ summary: "" }), { _tag: "Failed", reason: "worker said **no**" })
    const embed = payload.embeds![0]!
    expect(markdownOf(payload as never)).toEqual([])
    expect(shown(embed.title!)).toBe(`T7 (OTC ||Pink||) — ${headline}`)
    expect(shown(embed.description!)).toBe(`${summary}\n[more](https://evil.example/more)`)
    expect(shown(embed.footer!.text)).toBe("catalyst-bot · Wire **X**")
    expect(embed.url).toBe("https://example.com/news/7")
    const fields = Object.fromEntries(embed.fields!.map((field) => [field.name, shown(field.value)]))
    expect(fields["Category"]).toBe("`code`, fda_approval, *bold*")
    expect(fields["Source"]).toBe("Wire **X**")
    expect(fields["Key facts"]).toBe("• **$5M** deal\n• # big\n• [x](https://evil.example)")
    // The bot's own markup stays: Discord's timestamp tag.
    expect(fields["Published"]).toMatch(/^<t:\d+:T>$/)
  })

  it("escapes the item summary and SEC fields when there is no LLM verdict", () => {
    const alert = hostile()
    const { payload } = alertMessage(
      {
        ...alert,
        classification: { ...alert.classification, llm: { _tag: "Skipped", reason: "off" } },
        item: {
          ...alert.item,
          sec: { formType: "8-K", cik: "1", accession: "a", items: ["1.01", "# 9.01"], companyName: "X" }
        }
      },
      { _tag: "NoBars" }
    )
    expect(markdownOf(payload as never)).toEqual([])
    expect(shown(payload.embeds![0]!.description!)).toBe(summary)
  })

  it("admin notices quoting a headline are escaped too", () => {
    const { payload } = noticeMessage(`alert for T7 not delivered`, `"${headline}" was dead-lettered\n${summary}`)
    expect(markdownOf(payload as never)).toEqual([])
    expect(shown(payload.embeds![0]!.description!)).toBe(`"${headline}" was dead-lettered\n${summary}`)
  })

  it("truncation after escaping never leaves half an escape before the ellipsis", () => {
    for (const max of [255, 256, 257, 1023, 1024]) {
      const cut = truncate(escapeMarkdown("*".repeat(2_000)), max)
      expect(cut.length).toBeLessThanOrEqual(max)
      expect(cut).toMatch(/^(\\\*)+…$/)
    }
    const { payload } = alertMessage(hostile({ title: "|".repeat(400), summary: "`".repeat(5_000) }), {
      _tag: "NoBars"
    })
    const embed = payload.embeds![0]!
    expect(embed.title!.length).toBeLessThanOrEqual(Limits.title)
    expect(embed.description!.length).toBeLessThanOrEqual(Limits.description)
    expect(markdownOf(payload as never)).toEqual([])
  })

  it.live("through the fake Discord server: the received message renders no Markdown from the feed", () =>
    Effect.gen(function* () {
      const fake = yield* makeFakeDiscord()
      const sink = DiscordSink.layer(Redacted.make(fake.webhookUrl())).pipe(
        Layer.provide(DiscordWebhooks.Default),
        Layer.provide(Layer.mergeAll(NodeHttpClient.layerUndici, StatusBoard.Default, AppConfig.Default)),
        Layer.provide(tempDataConfig())
      )
      yield* Effect.flatMap(AlertSink, (alerts) => alerts.send(hostile(), { _tag: "NoBars" })).pipe(
        Effect.provide(sink)
      )
      expect(fake.messages).toHaveLength(1)
      expect(fake.messages[0]!.markdown).toEqual([])
      expect(fake.messages[0]!.pinged).toEqual([])
    }).pipe(Effect.scoped)
  )
})
