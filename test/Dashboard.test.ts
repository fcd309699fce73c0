import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { contentSecurityPolicy } from "../src/App/Dashboard.js"
import { html, safeHref } from "../src/App/Dashboard/Html.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import * as World from "../src/World/World.js"
import { type DashboardBot, startDashboardBot } from "./support/DashboardBot.js"

describe("dashboard HTML", () => {
  it("escapes every interpolated string and keeps only markup built by the template", () => {
    const headline = `<script>alert(1)</script><img src=x onerror="alert('x')"> & more`
    const cell = html`<td title="${headline}">${headline}</td>`
    expect(cell.markup).toBe(
      '<td title="&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; more">' +
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt; &amp; more</td>"
    )
    // Through an alias, so the formatter leaves the template's whitespace alone.
    const template = html
    expect(template`<p>${[cell, "<b>", null, 3]}</p>`.markup).toBe(`<p>${cell.markup}&lt;b&gt;3</p>`)
  })

  it("links only to http(s) URLs", () => {
    expect(safeHref("javascript:alert(1)")).toBe("#")
    expect(safeHref("data:text/html,<script>")).toBe("#")
    expect(safeHref("https://www.globenewswire.com/a?b=1")).toBe("https://www.globenewswire.com/a?b=1")
  })
})

describe("DASHBOARD_TOKEN and a non-loopback HEALTH_HOST", () => {
  const load = (values: Record<string, string>) =>
    AppConfig.pipe(
      Effect.provide(AppConfig.Default),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values)))),
      Effect.flip,
      Effect.map(String)
    )

  it.effect("refuses to start without a token, naming DASHBOARD_TOKEN in one line", () =>
    Effect.gen(function* () {
      const message = yield* load({ HEALTH_HOST: "0.0.0.0" })
      expect(message).toContain("DASHBOARD_TOKEN")
      expect(message).toContain("HEALTH_HOST (0.0.0.0) is not a loopback address")
      expect(message.split("\n")).toHaveLength(1)
    })
  )

  it.effect("starts with a token, on loopback without one, and with the health server off", () =>
    Effect.gen(function* () {
      const provide = (values: Record<string, string>) =>
        AppConfig.pipe(
          Effect.provide(AppConfig.Default),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(values))))
        )
      yield* provide({ HEALTH_HOST: "0.0.0.0", DASHBOARD_TOKEN: "t" })
      yield* provide({ HEALTH_HOST: "127.0.0.2" })
      yield* provide({ HEALTH_HOST: "::1" })
      yield* provide({ HEALTH_HOST: "0.0.0.0", HEALTH_PORT: "0" })
    })
  )
})

describe("the dashboard over HTTP, with DASHBOARD_TOKEN and secrets configured", () => {
  const token = "dash-token-5b8c1e"
  const secrets = {
    DASHBOARD_TOKEN: token,
    LLM_API_KEY: "sk-llm-secret-7d41a9",
    TIINGO_API_KEY: "tiingo-secret-33f0c2",
    webhookToken: "discord-webhook-secret-e1b7"
  }
  let bot: DashboardBot

  beforeAll(async () => {
    bot = await startDashboardBot((world) => ({
      // The network guard allows loopback only; a token set is asked for on any host.
      DASHBOARD_TOKEN: secrets.DASHBOARD_TOKEN,
      LLM_API_KEY: secrets.LLM_API_KEY,
      TIINGO_API_KEY: secrets.TIINGO_API_KEY,
      DISCORD_WEBHOOK_URL: world.discord.webhookUrl(world.webhookIds.alerts, secrets.webhookToken)
    }))
    bot.world.publish([{ company: World.companies[1]!, kind: "fda_approval", wires: ["GlobeNewswire"] }])
    await bot.cycle()
  }, 120_000)
  afterAll(() => bot?.close(), 60_000)

  const pages = ["/", "/alerts", "/items?q=a", "/outcomes", "/settings"]
  const bearer = { authorization: `Bearer ${token}` }

  it("answers 401 to a request without the token, on every page and the live stream", async () => {
    for (const path of [...pages, "/events?view=overview", "/outcomes/chart.png"]) {
      const response = await fetch(`${bot.url}${path}`)
      expect(response.status, path).toBe(401)
      await response.body?.cancel()
    }
    const wrong = await fetch(bot.url, { headers: { authorization: "Bearer not-it" } })
    expect(wrong.status).toBe(401)
    const page = await fetch(bot.url, { headers: { accept: "text/html" } })
    expect(await page.text()).toContain('action="/login"')
  })

  it("keeps /health and /metrics open for probes", async () => {
    expect((await fetch(`${bot.url}/health/ping`)).status).toBe(200)
    expect((await fetch(`${bot.url}/metrics`)).status).toBe(200)
  })

  it("serves pages to the bearer, and to a browser after the login form set its HttpOnly cookie", async () => {
    expect((await fetch(bot.url, { headers: bearer })).status).toBe(200)
    const refused = await fetch(`${bot.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: "nope" }),
      redirect: "manual"
    })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("set-cookie")).toBeNull()
    const login = await fetch(`${bot.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ token }),
      redirect: "manual"
    })
    expect(login.status).toBe(303)
    const cookie = login.headers.get("set-cookie") ?? ""
    expect(cookie).toMatch(/HttpOnly/i)
    expect(cookie).toMatch(/SameSite=Strict/i)
    expect(cookie).not.toContain(token)
    const session = cookie.split(";")[0]!
    expect((await fetch(`${bot.url}/alerts`, { headers: { cookie: session } })).status).toBe(200)
  })

  it("sends a strict Content-Security-Policy and no inline script or style", async () => {
    for (const path of pages) {
      const response = await fetch(`${bot.url}${path}`, { headers: bearer })
      expect(response.status, path).toBe(200)
      const policy = response.headers.get("content-security-policy") ?? ""
      expect(policy).toBe(contentSecurityPolicy)
      expect(policy).toContain("script-src 'self'")
      expect(policy).not.toContain("unsafe")
      const body = await response.text()
      expect(body, path).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/)
      expect(body, path).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i)
    }
  })

  it("never shows a secret on any page, the live stream or the login form", async () => {
    const bodies: Array<string> = []
    for (const path of [...pages, "/login"]) {
      bodies.push(await (await fetch(`${bot.url}${path}`, { headers: bearer })).text())
    }
    const stream = await fetch(`${bot.url}/events?view=overview`, { headers: bearer })
    const reader = stream.body!.getReader()
    bodies.push(new TextDecoder().decode((await reader.read()).value))
    await reader.cancel()
    const settings = bodies[4]!
    expect(settings).toContain("DISCORD_WEBHOOK_URL=&lt;redacted&gt;")
    expect(settings).toContain("DASHBOARD_TOKEN=&lt;redacted&gt;")
    for (const body of bodies) {
      for (const secret of Object.values(secrets)) expect(body).not.toContain(secret)
    }
  })

  it("ends open live streams when the bot shuts down, instead of holding the shutdown up", async () => {
    const stream = await fetch(`${bot.url}/events?view=alerts`, { headers: bearer })
    const reader = stream.body!.getReader()
    expect((await reader.read()).done).toBe(false)
    await bot.close()
    let ended = false
    while (!ended) ended = (await reader.read().catch(() => ({ done: true }))).done
    expect(ended).toBe(true)
  }, 60_000)
})
