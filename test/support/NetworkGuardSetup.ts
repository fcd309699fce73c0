import { afterAll, afterEach, expect } from "vitest"
import { installNetworkGuard } from "./NetworkGuard.mjs"
import { guardState } from "./NetworkGuardState.js"

/**
 * vitest setup (vitest.config.ts `setupFiles`): a test fails, naming itself and the host, when its
 * worker or a bot it spawned (test/support/Cli.ts) tried to reach anything but loopback. The blocked
 * call also throws where it was made, but code under test may well swallow that as a transient error.
 */

const state = guardState()

installNetworkGuard((attempt) => {
  state.attempts.push(attempt)
  if (!attempt.allowed) state.violations.push(attempt.target)
})

const collect = (): ReadonlyArray<string> => {
  const found = state.violations.splice(0)
  for (const child of state.children.splice(0)) {
    found.push(...child.takeViolations().map((line) => `${line} (in the bot spawned as pid ${child.pid ?? "?"})`))
    // A bot left running would keep reaching out after its test.
    child.dispose()
  }
  state.attempts.length = 0
  return found
}

const fail = (where: string, found: ReadonlyArray<string>) => {
  if (found.length === 0) return
  throw new Error(`network guard: ${where} tried to reach beyond loopback:\n  ${found.join("\n  ")}`)
}

afterEach(() => {
  const { currentTestName, testPath } = expect.getState()
  fail(`test "${currentTestName ?? "?"}" (${testPath ?? "?"})`, collect())
})

afterAll(() => {
  fail(`code outside any test in ${expect.getState().testPath ?? "this file"}`, collect())
})
