import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { BrowserContext } from "playwright-core"
import * as World from "../src/World/World.js"
import { launchChromium, requireChromium } from "./support/Chromium.js"
import { type DashboardBot, startDashboardBot } from "./support/DashboardBot.js"

// A missing browser fails this file with one line saying how to install it; it never skips.
requireChromium()

/** The page's global object, as the test's own marks on it see it (the test project has no DOM typings). */
type PageGlobals = { keptSinceLoad?: boolean; injected?: unknown }

describe("the dashboard in Chromium, against the simulated world", () => {
  let bot: DashboardBot
  let browser: Awaited<ReturnType<typeof launchChromium>>
  let context: BrowserContext

  beforeAll(async () => {
    bot = await startDashboardBot()
    browser = await launchChromium()
    context = browser.context
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await bot?.close()
  }, 60_000)

  it("shows a delivered alert in the open alert list within 2 s, without a reload", async () => {
    const page = await context.newPage()
    await page.goto(`${bot.url}/alerts`)
    await page.evaluate(() => {
      ;(globalThis as PageGlobals).keptSinceLoad = true
    })
    const [story] = bot.world.publish([
      { company: World.companies[2]!, kind: "government_contract", wires: ["GlobeNewswire"] }
    ])
    const settled = await bot.cycle()
    expect(settled.delivered).toBeGreaterThan(0)
    await page.locator("#alerts tr", { hasText: story!.title }).waitFor({ timeout: 2_000 })
    expect(await page.locator("#alerts tr", { hasText: story!.title }).innerText()).toContain(story!.ticker)
    expect(await page.evaluate(() => (globalThis as PageGlobals).keptSinceLoad)).toBe(true)
    await page.close()
  }, 60_000)

  it("finds a filtered item by its headline and shows why it was filtered", async () => {
    const company = World.companies[5]!
    const headline = `${company.name} to Present at Upcoming Investor Conference in Zurich`
    bot.world.publish([{ company, kind: "routine", wires: ["AccessWire"], headline }])
    await bot.cycle()
    const page = await context.newPage()
    await page.goto(`${bot.url}/items`)
    await page.fill("input[name=q]", "zurich")
    await page.click("form.search button")
    const row = page.locator("#items tbody tr", { hasText: headline })
    await row.waitFor({ timeout: 5_000 })
    expect(await row.locator(".outcome").innerText()).toBe("filtered")
    expect(await row.locator(".reason").innerText()).toMatch(/score/i)
    await page.close()
  }, 60_000)

  it("renders a headline carrying <script> and <img onerror> as text, and runs neither", async () => {
    const company = World.companies[7]!
    const injection = `<script>window.injected = "script"</script><img src="x" onerror="window.injected = 2">`
    // The bot drops markup from feed text and decodes entities, so markup that survives into a headline
    // arrives entity-escaped, as a headline about HTML would.
    const escaped = injection.replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    const headline = `${company.name} Wins $40 Million Department of Defense Contract ${escaped}`
    bot.world.publish([{ company, kind: "government_contract", wires: ["GlobeNewswire"], headline }])
    await bot.cycle()
    const page = await context.newPage()
    for (const path of [`/items?q=${encodeURIComponent("window.injected")}`, "/alerts"]) {
      await page.goto(`${bot.url}${path}`)
      const cell = page.locator("td.headline", { hasText: "<script>window.injected" })
      await cell.first().waitFor({ timeout: 5_000 })
      expect(await cell.first().innerText()).toContain(injection)
      expect(await page.locator("main img, main script").count()).toBe(0)
      expect(await page.evaluate(() => (globalThis as PageGlobals).injected)).toBeUndefined()
    }
    await page.close()
  }, 60_000)

  it("lists every source on the overview and shows a failing one as failing", async () => {
    await Effect.runPromise(bot.world.scenario("feedOutage"))
    await bot.cycle()
    const page = await context.newPage()
    await page.goto(bot.url)
    for (const name of [...World.wireNames, "SEC EDGAR"]) {
      await expect(page.locator(`#sources tr[data-source="${name}"]`).count()).resolves.toBe(1)
    }
    expect(await page.locator(`#sources tr[data-source="PR Newswire"] .state`).innerText()).toMatch(/^failing/)
    expect(await page.locator(`#sources tr[data-source="GlobeNewswire"] .state`).innerText()).toBe("ok")
    expect(await page.locator("#status").innerText()).toBe("Unhealthy")
    await page.close()
  }, 60_000)
})
