import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { guardState } from "./NetworkGuardState.js"

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const root = join(import.meta.dirname, "../..")
const mainModule = join(root, "src/main.ts")
// Resolved here: from the bot's empty working directory `--import tsx` would find no tsx.
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const guardPreload = pathToFileURL(join(import.meta.dirname, "NetworkGuardPreload.mjs")).href

/** Nothing listens on port 1 (tcpmux) on loopback, so a request there is refused at once. */
export const refusedUrl = "http://127.0.0.1:1"

/**
 * Every endpoint the bot knows (src/Kernel/AppConfig.ts), pointed at a refused loopback port or
 * switched off, so that a test reaches only what it passes itself: no live wires (an empty feeds
 * file), no sec.gov, no Yahoo (the default quote provider), no LLM, no Discord, no OTLP collector
 * and no health server (8080 by default). Empty values count as set, so no `.env` could fill them.
 */
const safeDefaults = (feedsFile: string): Record<string, string> => ({
  FEEDS_FILE: feedsFile,
  SEC_BASE_URL: refusedUrl,
  SEC_TICKERS_URL: `${refusedUrl}/files/company_tickers.json`,
  SEC_SUBMISSIONS_URL: refusedUrl,
  SEC_USER_AGENT: "",
  YAHOO_BASE_URL: refusedUrl,
  TIINGO_BASE_URL: refusedUrl,
  TIINGO_API_KEY: "",
  LLM_PROVIDER: "none",
  LLM_BASE_URL: refusedUrl,
  LLM_API_KEY: "",
  DISCORD_WEBHOOK_URL: "",
  DISCORD_ADMIN_WEBHOOK: "",
  OTEL_EXPORTER_OTLP_ENDPOINT: "",
  HEALTH_PORT: "0"
})

/** A loopback port free right now, for a test that needs the health server (HEALTH_PORT). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

export interface Bot {
  readonly child: ReturnType<typeof spawn>
  readonly exited: Promise<CliResult>
  readonly waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>
  readonly dataDir: string
  /** What the network guard blocked in this bot so far; those no longer fail the test. */
  readonly takeViolations: () => ReadonlyArray<string>
}

/**
 * The CLI (src/main.ts through tsx) exactly as given: `cwd` and `env` as passed, plus PATH and the
 * network guard. Tests start the bot with `spawnCli`; this is for tests of that sandbox itself.
 * `dispose` runs when the test ends, after the bot is killed if it still runs.
 */
export const spawnMain = (
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly env: Record<string, string>
    readonly dataDir?: string
    readonly dispose?: () => void
  }
): Bot => {
  const logDir = mkdtempSync(join(tmpdir(), "catalyst-bot-guard-"))
  const log = join(logDir, "network-guard.log")
  writeFileSync(log, "")
  const child = spawn(process.execPath, ["--import", tsxLoader, "--import", guardPreload, mainModule, ...args], {
    cwd: options.cwd,
    env: {
      ...options.env,
      PATH: process.env.PATH ?? "",
      // tsx looks for tsconfig.json in the working directory otherwise.
      TSX_TSCONFIG_PATH: join(root, "tsconfig.json"),
      NETWORK_GUARD_LOG: log
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const takeViolations = () => {
    const lines = readFileSync(log, "utf8")
      .split("\n")
      .filter((line) => line !== "")
    writeFileSync(log, "")
    return lines
  }
  guardState().children.push({
    pid: child.pid,
    takeViolations,
    dispose: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      rmSync(logDir, { recursive: true, force: true })
      options.dispose?.()
    }
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<CliResult>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }))
  )
  const waitFor = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${pattern}; stderr: ${stderr}`)),
        timeoutMs
      )
      const check = () => {
        if (pattern.test(stdout) || pattern.test(stderr)) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout.on("data", check)
      child.stderr.on("data", check)
      check()
    })
  return { child, exited, waitFor, dataDir: options.dataDir ?? "", takeViolations }
}

/**
 * Starts the real bot in a child process the way a test must: in a fresh empty working directory
 * (src/main.ts reads `./.env`, so the developer's never is), with an environment of PATH, the safe
 * defaults above and `env` (nothing inherited from the shell running the tests), its own DATA_DIR
 * unless `env` names one, and the network guard preloaded. Its directories go when the test ends.
 */
export const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}): Bot => {
  const base = mkdtempSync(join(tmpdir(), "catalyst-bot-cli-"))
  const cwd = join(base, "cwd")
  mkdirSync(cwd)
  const feedsFile = join(base, "no-feeds.json")
  writeFileSync(feedsFile, "[]")
  const dataDir = env.DATA_DIR ?? join(base, "data")
  return spawnMain(args, {
    cwd,
    env: { ...safeDefaults(feedsFile), ...env, DATA_DIR: dataDir },
    dataDir,
    dispose: () => rmSync(base, { recursive: true, force: true })
  })
}

export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => spawnCli(args, env).exited
