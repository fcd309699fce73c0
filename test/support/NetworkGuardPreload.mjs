// Loaded with `--import` into every bot a test spawns (test/support/Cli.ts), worker threads included.
import { appendFileSync } from "node:fs"
import process from "node:process"
import { installNetworkGuard } from "./NetworkGuard.mjs"

// Blocked attempts go to NETWORK_GUARD_LOG, which the test's afterEach reads (NetworkGuardSetup.ts),
// and to stderr for whoever is watching.
const log = process.env.NETWORK_GUARD_LOG

installNetworkGuard((attempt) => {
  if (attempt.allowed) return
  if (log !== undefined && log !== "") appendFileSync(log, `${attempt.target}\n`)
  process.stderr.write(`[network guard] blocked ${attempt.target}\n`)
})
