import { SteppedBot, withConfig } from "../../src/App/Layers.js"
import type { World } from "../../src/World/World.js"

/** The bot as `run` composes it, minus the loops the caller steps itself, configured only by `world` (quick retries). */
export const worldBot = (world: World, overrides: Record<string, string | number> = {}) =>
  SteppedBot.pipe(
    withConfig({
      FEED_RETRIES: 0,
      FEED_TIMEOUT_SECONDS: 2,
      LLM_RETRIES: 0,
      ALERTS_PER_TICKER_PER_MINUTE: 0,
      DELIVERY_RETRY_BASE_SECONDS: 0.05,
      ...world.env,
      ...overrides
    })
  )
