import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium } from "playwright-core"

/** Debian's Chromium (`.ci/run` installs it); the browser tests run against it and never download one. */
export const chromiumPath = "/usr/bin/chromium"

/** The browser tests must run, never skip: without Chromium the file fails with this one line. */
export const requireChromium = () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium`)
}

/** Headless, with background networking off (it would keep trying hosts it can't reach), in a fresh profile. */
export const launchChromium = async () => {
  requireChromium()
  const profile = mkdtempSync(join(tmpdir(), "catalyst-chromium-"))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic"
    ]
  })
  return {
    context,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    }
  }
}
