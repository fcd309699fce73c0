import { Effect } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { secCurrentFeedUrl, secFeedName } from "../Feeds/Sources.js"
import { type FakeDiscordOptions, makeFakeDiscord, perEmbed } from "./FakeDiscord.js"
import * as FakeOpenAi from "./FakeOpenAi.js"
import * as FakeQuotes from "./FakeQuotes.js"
import * as FakeSec from "./FakeSec.js"
import * as FakeWire from "./FakeWire.js"

/**
 * A simulated market on 127.0.0.1: three press-release wires, SEC EDGAR (getcurrent, company_tickers_exchange.json,
 * submissions and filing documents), a Yahoo-style quote and bar API, an OpenAI-compatible LLM and a
 * Discord webhook server, all built
 * from the stage fakes. `env` is the bot's configuration pointing at it; `publish*` put fresh news on
 * the wires and filings on EDGAR; `scenario` scripts the bad days (outages, 429 storms, …).
 */

export interface Company {
  readonly name: string
  readonly ticker: string
  readonly exchange: "Nasdaq" | "NYSE" | "NYSE American"
  readonly cik: number
}

/** Made-up small caps, so nothing here can be mistaken for news about a real company. */
export const companies: ReadonlyArray<Company> = [
  ["Aurora Biolabs", "AURB", "Nasdaq"],
  ["Beacon Therapeutics", "BCNT", "Nasdaq"],
  ["Cobalt Ridge Mining", "CBRM", "NYSE American"],
  ["Delphi Grid Systems", "DLGS", "Nasdaq"],
  ["Emberline Energy", "EMBL", "NYSE"],
  ["Fathom Robotics", "FTHM", "Nasdaq"],
  ["Granite Peak Pharma", "GPPH", "Nasdaq"],
  ["Harbor Lane Bancorp", "HLBC", "Nasdaq"],
  ["Ionic Cell Power", "IONP", "Nasdaq"],
  ["Juniper Diagnostics", "JNPD", "Nasdaq"],
  ["Keystone Aerospace", "KSTA", "NYSE"],
  ["Lumen Oncology", "LMNO", "Nasdaq"],
  ["Meridian Quantum", "MRDQ", "Nasdaq"],
  ["Northwind Shipping", "NWSH", "NYSE"],
  ["Orchid Gene Editing", "ORGE", "Nasdaq"],
  ["Pinnacle Drone Works", "PDRN", "NYSE American"],
  ["Quarry Lithium", "QRLI", "NYSE American"],
  ["Redwood Neuro", "RDNR", "Nasdaq"],
  ["Sable Cybersecurity", "SBLC", "Nasdaq"],
  ["Tidewater Medical", "TDWM", "Nasdaq"],
  ["Umbra Solar", "UMBS", "Nasdaq"],
  ["Vantage Cannabis", "VNTC", "NYSE American"],
  ["Willow Health Systems", "WLHS", "Nasdaq"],
  ["Xenith Vaccines", "XNVC", "Nasdaq"]
].map(([name, ticker, exchange], index) => ({
  name: name!,
  ticker: ticker!,
  exchange: exchange as Company["exchange"],
  cik: 1_900_001 + index * 37
}))

export type StoryKind =
  "fda_approval" | "clinical_results" | "offering" | "acquisition" | "government_contract" | "partnership" | "routine"

const pad = (n: number, width: number) => String(n).padStart(width, "0")

interface StoryTemplate {
  /** `serial` varies the numbers, so a company's later stories aren't taken for repeats of its earlier ones. */
  readonly headline: (company: Company, serial: number) => string
  readonly body: string
  readonly analysis: FakeOpenAi.FakeAnalysis
  /** The filing that goes with it on EDGAR, if any. */
  readonly filing?: { readonly form: string; readonly items: ReadonlyArray<string> }
}

const templates: Record<StoryKind, StoryTemplate> = {
  fda_approval: {
    headline: (c, n) => `${c.name} Announces FDA Approval of ${c.ticker.slice(0, 2)}-${100 + n}`,
    body: "The approval covers the treatment of adults with a rare metabolic disorder; launch is expected next quarter.",
    analysis: {
      category: "fda_approval",
      sentiment: 0.85,
      confidence: 0.9,
      summary: "FDA approved the company's lead product; commercial launch planned next quarter.",
      key_facts: ["FDA approval", "launch next quarter"],
      is_material: true
    },
    filing: { form: "8-K", items: ["Item 8.01: Other Events", "Item 9.01: Financial Statements and Exhibits"] }
  },
  clinical_results: {
    headline: (c, n) =>
      `${c.name} Reports Positive Topline Results From Phase 2 Trial of ${c.ticker.slice(0, 2)}-${100 + n}`,
    body: "The trial met its primary endpoint with statistically significant improvement over placebo.",
    analysis: {
      category: "clinical_results",
      sentiment: 0.7,
      confidence: 0.85,
      summary: "Phase 2 trial met its primary endpoint with a statistically significant benefit.",
      key_facts: ["Phase 2 met primary endpoint", "statistically significant"],
      is_material: true
    }
  },
  offering: {
    headline: (c, n) => `${c.name} Prices $${5 + (n % 95)} Million Registered Direct Offering`,
    body: "The company intends to use the net proceeds for working capital and general corporate purposes.",
    analysis: {
      category: "offering",
      sentiment: -0.5,
      confidence: 0.9,
      summary: "A $15 million registered direct offering priced at a discount; dilutive to holders.",
      key_facts: ["$15M registered direct offering", "dilution"],
      is_material: true
    },
    filing: { form: "424B5", items: [] }
  },
  acquisition: {
    headline: (c, n) =>
      `${c.name} Enters Definitive Agreement to Be Acquired for $${1 + (n % 9)}.${pad(n % 97, 2)} Per Share in Cash`,
    body: "The transaction represents a 62% premium to the last closing price and is expected to close in Q2.",
    analysis: {
      category: "acquisition",
      sentiment: 0.8,
      confidence: 0.9,
      summary: "Definitive agreement to be acquired for cash at a 62% premium.",
      key_facts: ["$4.10 per share in cash", "62% premium"],
      is_material: true
    },
    filing: {
      form: "8-K",
      items: ["Item 1.01: Entry into a Material Definitive Agreement", "Item 9.01: Financial Statements and Exhibits"]
    }
  },
  government_contract: {
    headline: (c, n) => `${c.name} Wins $${10 + (n % 90)} Million Department of Defense Contract`,
    body: "The multi-year award covers production and sustainment through 2029.",
    analysis: {
      category: "government_contract",
      sentiment: 0.6,
      confidence: 0.8,
      summary: "Multi-year $40 million Department of Defense production contract.",
      key_facts: ["$40M DoD contract", "through 2029"],
      is_material: true
    }
  },
  partnership: {
    headline: (c, n) =>
      `${c.name} Announces Strategic Collaboration Agreement With Up to $${50 + (n % 250)} Million in Milestones`,
    body: "The collaboration includes an upfront payment and milestone payments of up to $200 million.",
    analysis: {
      category: "partnership",
      sentiment: 0.5,
      confidence: 0.75,
      summary: "Strategic collaboration with an upfront payment and up to $200 million in milestones.",
      key_facts: ["upfront payment", "up to $200M milestones"],
      is_material: true
    }
  },
  routine: {
    headline: (c) => `${c.name} to Present at Upcoming Investor Conference`,
    body: "Management will host one-on-one meetings with investors during the conference.",
    analysis: {
      category: "other",
      sentiment: 0,
      confidence: 0.6,
      summary: "Routine investor-conference appearance.",
      key_facts: [],
      is_material: false
    }
  }
}

export const storyKinds = Object.keys(templates) as ReadonlyArray<StoryKind>

export const wireNames = ["GlobeNewswire", "PR Newswire", "AccessWire"] as const
export type WireName = (typeof wireNames)[number]

export interface Story {
  readonly company: Company
  readonly kind: StoryKind
  /** Which wires carry it (two = the same story twice, which the bot must alert once). */
  readonly wires: ReadonlyArray<WireName>
  /** Defaults to now; an old date makes the item stale. */
  readonly publishedAt?: number
  /** Instead of the kind's usual headline (which the LLM answer is still chosen by). */
  readonly headline?: string
}

export interface PublishedStory {
  readonly title: string
  readonly ticker: string
  readonly wires: ReadonlyArray<WireName>
  readonly publishedAt: number
  readonly filing: string | null
}

export type ScenarioName =
  "normal" | "quietDay" | "newsBurst" | "feedOutage" | "discord429Storm" | "llmDown" | "priceApiDown"

export const scenarioDescriptions: Record<ScenarioName, string> = {
  normal: "every service answers normally",
  quietDay: "nothing new on the wires: feeds answer 304 Not Modified",
  newsBurst: "a burst of fresh releases on every wire at once",
  feedOutage: "PR Newswire answers 503 and SEC EDGAR refuses requests",
  discord429Storm: "Discord answers every request with a global 429 for a few seconds",
  llmDown: "the LLM answers 503: items fall back to keyword scoring",
  priceApiDown: "the quote API is down: alerts go out marked 'price unavailable'"
}

export interface WorldOptions {
  /** DATA_DIR for the bot; default a temp directory removed with the scope. */
  readonly dataDir?: string
  /** Round trip of every wire feed request. */
  readonly wireLatencyMs?: number
  readonly secLatencyMs?: number
  /** How long the LLM takes per call. */
  readonly llmLatencyMs?: number
  readonly discord?: FakeDiscordOptions
  /** Items each wire keeps in its feed, newest first (real wires serve 20–100). */
  readonly itemsPerFeed?: number
}

const wireLinks: Record<WireName, string> = {
  GlobeNewswire: "https://www.globenewswire.com/news-release",
  "PR Newswire": "https://www.prnewswire.com/news-releases",
  AccessWire: "https://www.accesswire.com/newsroom/en"
}

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")

const newYorkDate = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" })

/**
 * Today's date in New York, or the Friday before on a weekend: the session the quote server describes.
 * (The UTC date would be tomorrow's session from 19:00/20:00 New York time on.)
 */
export const lastWeekday = (now: number): string => {
  const date = new Date(`${newYorkDate.format(now)}T12:00:00Z`)
  while (date.getUTCDay() === 0 || date.getUTCDay() === 6) date.setUTCDate(date.getUTCDate() - 1)
  return date.toISOString().slice(0, 10)
}

/** Starts every fake for the life of the scope and returns the world with its controls. */
export const make = (options: WorldOptions = {}) =>
  Effect.gen(function* () {
    const itemsPerFeed = options.itemsPerFeed ?? 50
    const dataDir =
      options.dataDir ??
      (yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "catalyst-world-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      ))
    const configDir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "catalyst-world-config-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )

    const storiesByTitle = new Map<string, StoryKind>()
    const analyse = (requestBody: string): FakeOpenAi.FakeAnalysis => {
      for (const [title, kind] of storiesByTitle) {
        if (requestBody.includes(JSON.stringify(title).slice(1, -1))) return templates[kind].analysis
      }
      return FakeOpenAi.defaultAnalysis
    }
    const llmAnswer: FakeOpenAi.FakeLlmBehaviour = { _tag: "Answer", delayMs: options.llmLatencyMs ?? 0 }

    const wire = yield* FakeWire.make()
    const sec = yield* FakeSec.make({
      tickers: companies.map((company) => ({
        cik: company.cik,
        ticker: company.ticker,
        title: company.name,
        exchange: company.exchange
      })),
      ...(options.secLatencyMs !== undefined && { latencyMs: options.secLatencyMs })
    })
    const llm = yield* FakeOpenAi.make({ defaultBehaviour: llmAnswer, analyse })
    const discord = yield* makeFakeDiscord(options.discord)
    const quotes = yield* FakeQuotes.make({ sessionDate: lastWeekday(Date.now()), maxRecords: 2_000 })
    // Small caps between $0.80 and $14, moving -8% … +60% on the day, like a catalyst tape.
    companies.forEach((company, index) => {
      const price = Number((0.8 + ((index * 7.3) % 13.2)).toFixed(2))
      const change = -0.08 + ((index * 0.137) % 0.68)
      quotes.script(company.ticker, { price, previousClose: Number((price / (1 + change)).toFixed(4)) })
    })

    const alertWebhookId = "100000000000000001"
    const adminWebhookId = "100000000000000002"

    const items = new Map<WireName, Array<FakeWire.WireItem>>(wireNames.map((name) => [name, []]))
    let filings: Array<FakeSec.FakeFiling> = []
    let sequence = 0
    let wireOutage: number | null = null

    const serveWire = (name: WireName) => {
      if (wireOutage !== null && name === "PR Newswire") {
        return wire.setFeed(name, { body: "", status: wireOutage, latencyMs: options.wireLatencyMs ?? 0 })
      }
      const list = items.get(name) ?? []
      const body = name === "GlobeNewswire" ? FakeWire.globeNewswireRss(list) : FakeWire.prNewswireRss(list)
      wire.setFeed(name, {
        body,
        etag: `"${name.length}-${sequence}"`,
        lastModified: new Date(list[0] === undefined ? 0 : Date.parse(list[0].pubDate ?? "")).toUTCString(),
        latencyMs: options.wireLatencyMs ?? 0
      })
    }
    for (const name of wireNames) serveWire(name)

    const feeds = [
      ...wireNames.map((name) => ({ name, url: wire.feedUrl(name), kind: "rss" })),
      { name: secFeedName, url: secCurrentFeedUrl(sec.url), kind: "sec-atom" }
    ]
    const feedsFile = join(configDir, "feeds.json")
    writeFileSync(feedsFile, JSON.stringify(feeds, null, 2))

    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      FEEDS_FILE: feedsFile,
      SEC_BASE_URL: sec.url,
      SEC_TICKERS_URL: `${sec.url}/files/company_tickers_exchange.json`,
      SEC_SUBMISSIONS_URL: sec.url,
      SEC_XBRL_URL: sec.url,
      SEC_USER_AGENT: "catalyst-bot world admin@example.com",
      MARKET_DATA_PROVIDER: "yahoo",
      YAHOO_BASE_URL: quotes.url,
      LLM_PROVIDER: "openai",
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: "world-llm-key",
      DISCORD_WEBHOOK_URL: discord.webhookUrl(alertWebhookId, "alerts"),
      DISCORD_ADMIN_WEBHOOK: discord.webhookUrl(adminWebhookId, "admin"),
      HEALTH_PORT: "0"
    }

    /** Puts each story on its wires (newest first, capped like a real feed) and its filing on EDGAR. */
    const publish = (stories: ReadonlyArray<Story>): ReadonlyArray<PublishedStory> => {
      const touched = new Set<WireName>()
      const published = stories.map((story): PublishedStory => {
        sequence += 1
        const template = templates[story.kind]
        const publishedAt = story.publishedAt ?? Date.now()
        const title = story.headline ?? template.headline(story.company, sequence)
        storiesByTitle.set(title, story.kind)
        const { company } = story
        for (const name of story.wires) {
          const date = new Date(publishedAt)
          const item: FakeWire.WireItem = {
            title,
            link: `${wireLinks[name]}/${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1, 2)}/${pad(date.getUTCDate(), 2)}/${3_100_000 + sequence}/${slug(title)}.html`,
            description: `NEW YORK, ${date.toUTCString().slice(5, 16)} (${name.toUpperCase()}) -- ${company.name}, Inc. (${company.exchange}: ${company.ticker}) ${template.body}`,
            pubDate: date.toUTCString(),
            stocks: [`${company.exchange}:${company.ticker}`]
          }
          items.set(name, [item, ...(items.get(name) ?? [])].slice(0, itemsPerFeed))
          touched.add(name)
        }
        let accession: string | null = null
        if (template.filing !== undefined) {
          accession = `000${company.cik}-26-${pad(sequence % 1_000_000, 6)}`
          const updated = new Date(publishedAt - 5 * 3_600_000).toISOString().slice(0, 19) + "-05:00"
          filings = [
            {
              form: template.filing.form,
              accession,
              updated,
              items: template.filing.items,
              parties: [{ company: company.name.toUpperCase(), cik: company.cik, role: "Filer" }],
              documentText: `${template.filing.items.join(". ")}. ${title}. ${template.body}`
            },
            ...filings
          ].slice(0, 100)
        }
        return { title, ticker: company.ticker, wires: story.wires, publishedAt, filing: accession }
      })
      for (const name of touched) serveWire(name)
      sec.setFilings(filings)
      // Stories live only as long as a feed can still serve them, so a long run keeps constant memory.
      if (storiesByTitle.size > itemsPerFeed * wireNames.length * 2) {
        const live = new Set(Array.from(items.values()).flatMap((list) => list.map((item) => item.title)))
        for (const title of storiesByTitle.keys()) if (!live.has(title)) storiesByTitle.delete(title)
      }
      return published
    }

    /**
     * `count` fresh catalysts on rotating companies and wires; every fifth is routine news (filtered by
     * score) and every seventh runs on two wires (one alert).
     */
    const publishNews = (count: number): ReadonlyArray<PublishedStory> =>
      publish(
        Array.from({ length: count }, (_, index): Story => {
          const n = sequence + index
          const kinds = storyKinds.filter((kind) => kind !== "routine")
          const kind = n % 5 === 4 ? "routine" : kinds[n % kinds.length]!
          const first = wireNames[n % wireNames.length]!
          const second = wireNames[(n + 1) % wireNames.length]!
          return { company: companies[n % companies.length]!, kind, wires: n % 7 === 6 ? [first, second] : [first] }
        })
      )

    const scenario = (name: ScenarioName) =>
      Effect.sync(() => {
        switch (name) {
          case "normal":
            wireOutage = null
            for (const wireName of wireNames) serveWire(wireName)
            sec.setOutage(null)
            llm.setDefault(llmAnswer)
            return quotes.setOutage(null)
          case "quietDay":
            return
          case "newsBurst":
            return void publishNews(24)
          case "feedOutage":
            wireOutage = 503
            serveWire("PR Newswire")
            return sec.setOutage(503)
          case "discord429Storm":
            return discord.blockGlobally(4_000)
          case "llmDown":
            return llm.setDefault(FakeOpenAi.status(503))
          case "priceApiDown":
            return quotes.setOutage(503)
        }
      })

    /** Alerts the fake Discord accepted on the alert webhook (admin notices excluded), one per embed. */
    const alerts = () => discord.messages.filter((message) => message.webhookId === alertWebhookId).flatMap(perEmbed)
    const adminNotices = () => discord.messages.filter((message) => message.webhookId === adminWebhookId)

    const clearRecords = () => {
      wire.clearRecords()
      sec.clearRecords()
      llm.clearRecords()
      discord.clearRecords()
      quotes.clearRequests()
    }

    return {
      env,
      /** The ids of the alert and admin webhooks in `env`, for scripting Discord per webhook. */
      webhookIds: { alerts: alertWebhookId, admin: adminWebhookId },
      alertWebhookId,
      wire,
      sec,
      llm,
      discord,
      quotes,
      publish,
      publishNews,
      scenario,
      alerts,
      adminNotices,
      clearRecords
    } as const
  })

export type World = Effect.Effect.Success<ReturnType<typeof make>>
