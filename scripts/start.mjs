/**
 * `npm start`: brings dist/ up to date with src/ (scripts/build-if-stale.mjs, which skips tsc when nothing changed),
 * then runs dist/main.js in this same process. One node start instead of a prestart's node plus the bot's own:
 * under load each start of node costs the better part of a second.
 * Runs in the package root (npm runs scripts there); the arguments after the script are the CLI's.
 */
import { join } from "node:path"
import process from "node:process"
import { pathToFileURL } from "node:url"

await import("./build-if-stale.mjs")
await import(pathToFileURL(join(process.cwd(), "dist", "main.js")).href)
