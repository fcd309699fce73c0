import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

/**
 * Each table is read and written by one module; every other stage goes through that module's
 * service, so a change to a table's columns or JSON payloads stays inside one file.
 */
const owners: Readonly<Record<string, string>> = {
  seen_items: "src/Storage/SeenStore.ts",
  story_first_seen: "src/Storage/SeenStore.ts",
  outbox: "src/Delivery/Outbox.ts",
  outbox_edits: "src/Delivery/EditOutbox.ts",
  feed_state: "src/Feeds/FeedStateRepo.ts",
  sec_company_tickers: "src/Feeds/CikTickers.ts",
  sec_company_tickers_meta: "src/Feeds/CikTickers.ts",
  sec_llm_cache: "src/Classification/SecLlmCache.ts",
  llm_usage_daily: "src/Classification/UsageMonitor.ts",
  item_archive: "src/Outcomes/ItemArchive.ts",
  price_outcomes: "src/Outcomes/OutcomeStore.ts",
  company_size: "src/MarketData/CompanySizes.ts",
  insider_purchases: "src/Classification/InsiderTrades.ts",
  work_owners: "src/Kernel/WorkOwners.ts"
}

/**
 * Modules that handle every table without reading any: `migrate --to` copies rows as they are,
 * taking table names from SQLite's catalogue, so no column or payload format lives there.
 */
const copiers: ReadonlyArray<string> = ["src/Kernel/DatabaseCopy.ts"]

const root = fileURLToPath(new URL("..", import.meta.url))
const migrationsDir = "src/Kernel/migrations"

const sources = readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" })
  .filter((file) => file.endsWith(".ts"))
  .map((file) =>
    relative(root, join(root, "src", file))
      .split("\\")
      .join("/")
  )
  .sort()

const read = (file: string) => readFileSync(join(root, file), "utf8")

/** The table right after a keyword that names one in SQL, optionally quoted. */
const namesTable = (text: string, table: string) =>
  new RegExp(`\\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\\s+["'\`[]?${table}\\b`, "i").test(text)

describe("table ownership", () => {
  it("every table the migrations create has an owner", () => {
    const created = sources
      .filter((file) => file.startsWith(`${migrationsDir}/`))
      .flatMap((file) => Array.from(read(file).matchAll(/CREATE TABLE\s+(\w+)/gi), (match) => match[1]!))
    expect(created.length).toBeGreaterThan(0)
    expect(created.filter((table) => owners[table] === undefined)).toEqual([])
  })

  it("only a table's owner names it in SQL", () => {
    const violations = sources
      .filter((file) => !file.startsWith(`${migrationsDir}/`) && !copiers.includes(file))
      .flatMap((file) => {
        const text = read(file)
        return Object.entries(owners)
          .filter(([table, owner]) => owner !== file && namesTable(text, table))
          .map(([table, owner]) => `${file} names ${table} in SQL; go through ${owner}`)
      })
    expect(violations).toEqual([])
  })

  it("each owner does use its table (the list above is not stale)", () => {
    const unused = Object.entries(owners)
      .filter(([table, owner]) => !sources.includes(owner) || !namesTable(read(owner), table))
      .map(([table, owner]) => `${owner} ${table}`)
    expect(unused).toEqual([])
  })
})
