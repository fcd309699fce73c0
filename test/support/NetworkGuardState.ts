import type { Attempt } from "./NetworkGuard.mjs"

export { NetworkGuardError } from "./NetworkGuard.mjs"

export interface SpawnedBot {
  readonly pid: number | undefined
  /** What the guard blocked in it so far; reading consumes. */
  readonly takeViolations: () => ReadonlyArray<string>
  /** Kills it if still running and removes its directories. */
  readonly dispose: () => void
}

/** What the guard saw in the current test, shared by the setup file, the spawn helper and the tests. */
interface GuardState {
  readonly attempts: Array<Attempt>
  readonly violations: Array<string>
  readonly children: Array<SpawnedBot>
}

// On globalThis, so that every module instance vitest loads sees the same record.
const stateKey = Symbol.for("catalyst-bot/network-guard/state")

export const guardState = (): GuardState => {
  const global = globalThis as Record<symbol, GuardState | undefined>
  return (global[stateKey] ??= { attempts: [], violations: [], children: [] })
}

/** Blocked attempts of this process so far in the current test; they no longer fail it. */
export const takeViolations = (): ReadonlyArray<string> => guardState().violations.splice(0)

/** The connections this process attempts from now on (loopback included), for tests that must send nothing. */
export const watchConnections = (): (() => ReadonlyArray<string>) => {
  const { attempts } = guardState()
  const from = attempts.length
  return () =>
    attempts.slice(from).flatMap((attempt) => (attempt.target.startsWith("connect ") ? [attempt.target] : []))
}
