import { describe, expect, it } from "@effect/vitest"
import { alertMessage, enforceLimits, Limits, messageLength, truncate } from "../src/Delivery/Discord/Embed.js"
import { pingsOf, validateMessage } from "../src/World/FakeDiscord.js"
import { alertFixture } from "./support/Alerts.js"

const png = { _tag: "Rendered", chart: { filename: "T1.png", png: new Uint8Array([137, 80, 78, 71]) } } as const

const isLoneSurrogate = (text: string) =>
  /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)

describe("Discord embeds", () => {
  it("truncates to the limit with an ellipsis, never splitting a surrogate pair", () => {
    expect(truncate("short", 10)).toBe("short")
    const emoji = "😀".repeat(600) // 1200 code units
    for (const max of [255, 256, 257, 1023, 1024]) {
      const cut = truncate(emoji, max)
      expect(cut.length).toBeLessThanOrEqual(max)
      expect(cut.endsWith("…")).toBe(true)
      expect(isLoneSurrogate(cut)).toBe(false)
    }
  })

  it("builds the alert embed: title links to the source, market fields, chart as attachment://", () => {
    const { payload, files } = alertMessage(alertFixture(1), png)
    const embed = payload.embeds![0]!
    expect(embed.title).toBe("T1 (NASDAQ) — Headline 1")
    expect(embed.url).toBe("https://example.com/news/1")
    expect(embed.description).toBe("Summary of item 1.")
    expect(embed.image?.url).toBe("attachment://T1.png")
    expect(files.map((f) => f.name)).toEqual(["T1.png"])
    const fields = Object.fromEntries(embed.fields!.map((f) => [f.name, f.value]))
    expect(fields).toMatchObject({ Price: "$2.50", Change: "+25.0%", Score: "3.50", Sentiment: "+0.60" })
    expect(fields["Volume"]).toContain("4.2× rel")
    expect(fields["Detection latency"]).toBe("12 s")
    expect(payload.allowed_mentions).toEqual({ parse: [] })
  })

  it("flags negative catalysts, a failed chart, unavailable prices and filing items", () => {
    const alert = alertFixture(2, {
      classification: { ...alertFixture(2).classification, negative: true, sentiment: -0.8 },
      market: { _tag: "PriceUnavailable", reason: "quotes down" }
    })
    const filing = {
      ...alert,
      item: {
        ...alert.item,
        sec: { formType: "8-K", cik: "1", accession: "a", items: ["Item 1.01", "Item 9.01"], companyName: "X" }
      }
    }
    const embed = alertMessage(filing, { _tag: "Failed", reason: "boom" }).payload.embeds![0]!
    expect(embed.title!.startsWith("⚠️ NEGATIVE")).toBe(true)
    expect(embed.color).toBe(0xe74c3c)
    const fields = Object.fromEntries(embed.fields!.map((f) => [f.name, f.value]))
    expect(fields["Price"]).toContain("price unavailable")
    expect(fields["Chart"]).toContain("chart unavailable")
    expect(fields["Form"]).toBe("8-K")
    expect(fields["Items"]).toBe("Item 1.01\nItem 9.01")
    expect(embed.image).toBeUndefined()
  })

  it("an amended filing says so", () => {
    const alert = alertFixture(4)
    const amended = {
      ...alert,
      item: {
        ...alert.item,
        sec: { formType: "8-K/A", cik: "1", accession: "a", items: ["2.02"], companyName: "X" }
      }
    }
    const fields = Object.fromEntries(
      alertMessage(amended, { _tag: "Failed", reason: "boom" }).payload.embeds![0]!.fields!.map((f) => [
        f.name,
        f.value
      ])
    )
    expect(fields["Form"]).toBe("8-K/A (amendment)")
  })

  it("cuts every oversized field to Discord's limits and the 6000 total, so the fake accepts it", () => {
    const huge = "𝕏".repeat(5000) // astral characters: 10,000 code units
    const alert = alertFixture(3, {
      item: { ...alertFixture(3).item, title: huge, summary: huge, source: huge }
    })
    const { payload } = alertMessage(
      {
        ...alert,
        classification: {
          ...alert.classification,
          categories: Array.from({ length: 400 }, (_, i) => `category-${i}`),
          llm: {
            _tag: "Analysed",
            cached: false,
            analysis: {
              category: huge,
              sentiment: 0.2,
              confidence: 1,
              summary: huge,
              key_facts: [huge, huge],
              is_material: true
            }
          }
        }
      },
      { _tag: "NoBars" }
    )
    const embed = payload.embeds![0]!
    expect(embed.title!.length).toBeLessThanOrEqual(Limits.title)
    expect(embed.description!.length).toBeLessThanOrEqual(Limits.description)
    expect(embed.footer!.text.length).toBeLessThanOrEqual(Limits.footer)
    for (const field of embed.fields!) {
      expect(field.name.length).toBeLessThanOrEqual(Limits.fieldName)
      expect(field.value.length).toBeLessThanOrEqual(Limits.fieldValue)
      expect(isLoneSurrogate(field.value)).toBe(false)
    }
    expect(messageLength(payload)).toBeLessThanOrEqual(Limits.total)
    expect(isLoneSurrogate(JSON.stringify(payload))).toBe(false)
    expect(validateMessage(payload as never, [])).toEqual([])
  })

  it("caps fields at 25 and content at 2000", () => {
    const payload = enforceLimits({
      content: "x".repeat(3000),
      embeds: [{ title: "t", fields: Array.from({ length: 40 }, (_, i) => ({ name: `f${i}`, value: "" })) }],
      allowed_mentions: { parse: [] }
    })
    expect(payload.content!.length).toBe(Limits.content)
    expect(payload.embeds![0]!.fields).toHaveLength(Limits.fields)
    expect(payload.embeds![0]!.fields![0]!.value).toBe("—")
  })

  it("the fake server tells pings apart: without allowed_mentions @everyone would ping", () => {
    expect(pingsOf({ content: "hi @everyone <@123>" })).toEqual(["@everyone", "<@123>"])
    expect(pingsOf({ content: "hi @everyone <@123>", allowed_mentions: { parse: [] } })).toEqual([])
  })
})
