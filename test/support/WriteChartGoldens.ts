import { mkdirSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { drawPng } from "../../src/Charts/Draw.js"
import { goldenDir, goldens } from "./ChartGoldens.js"

/** `npm run charts:golden`: draws the golden images that test/Charts.test.ts compares against. */
mkdirSync(goldenDir, { recursive: true })
for (const { name, request } of goldens) {
  const file = new URL(name, goldenDir)
  writeFileSync(file, drawPng(request))
  console.log(`wrote ${fileURLToPath(file)}`)
}
