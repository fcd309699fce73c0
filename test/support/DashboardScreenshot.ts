/**
 * `npm run dashboard:screenshot`: the bot as `run` composes it, polling the simulated world, and a
 * picture of its dashboard's overview once a burst of news went out, written to docs/dashboard.png.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { Bot, withConfig } from "../../src/App/Layers.js"
import * as World from "../../src/World/World.js"
import { launchChromium } from "./Chromium.js"
import { freePort } from "./Cli.js"

const output = "docs/dashboard.png"

const scope = Effect.runSync(Scope.make())
try {
  const world = await Effect.runPromise(Scope.extend(World.make(), scope))
  const port = await freePort()
  const settings = { ...world.env, HEALTH_PORT: port, POLL_SECONDS: 2, POLL_SECONDS_CLOSED: 2, SEC_POLL_SECONDS: 2 }
  await Effect.runPromise(Layer.buildWithScope(Bot.pipe(withConfig(settings)), scope))
  world.publishNews(12)
  const deadline = Date.now() + 60_000
  while (world.alerts().length < 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250))
  await new Promise((resolve) => setTimeout(resolve, 3_000))
  const browser = await launchChromium()
  try {
    const page = await browser.context.newPage()
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.goto(`http://127.0.0.1:${port}/`)
    await page.locator("#sources").waitFor()
    await page.screenshot({ path: output, fullPage: true })
    console.log(`wrote ${output} (${world.alerts().length} alerts delivered)`)
  } finally {
    await browser.close()
  }
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
}
