/**
 * bench:memory — what the bot costs to keep running and to start, against a bare Effect HTTP server
 * (bench/bareServer.mjs) measured in the same run.
 * 1. Idle RSS: `node dist/main.js run` against the simulated world with nothing new on it, after its first cycles.
 * 2. Peak RSS while a burst of news is classified, charted and delivered to the fake Discord. The count is checked
 *    against the bot's own verdicts (its item outcomes): every item it alerted on must reach Discord; the rest of the
 *    burst is filtered by score (routine news, dilutive offerings) or merged as a repeat of a story already seen.
 * 3. `node dist/main.js --version`, wall time, against `node -e 0`.
 * 4. `npm start` with nothing changed until the runner is up, against the bare server's start-up.
 * Both processes run compiled JavaScript with `node` and the node flags of package.json's `start` script, as the
 * bot runs in production; dist/ is brought up to date first.
 */
import Database from "better-sqlite3"
import { Effect, Logger, LogLevel } from "effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { databaseFile } from "../src/Kernel/Sql.js"
import * as World from "../src/World/World.js"
import { type BenchReport, type CheckedFigure, type Figure, isMain, publish } from "./lib.js"
import { judge, targets } from "./targets.js"

const burstStories = 40
const versionRuns = 10
const startRuns = 3
const mib = (kib: number) => kib / 1024

/** The node flags of package.json's start script (`node <flags> scripts/start.mjs run`). */
const nodeFlags = (): Array<string> => {
  const { scripts } = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: { start: string } }
  const [command, ...args] = scripts.start.split(/\s+/)
  if (command !== "node") throw new Error(`the start script does not run node: ${scripts.start}`)
  return args.filter((arg) => arg.startsWith("--"))
}

/**
 * `<flags> dist/main.js run`: what the start script runs once dist/ is up to date, started directly so that the
 * RSS figures measure the bot, not the build check; the start-up figure runs `npm start` itself.
 */
const startArgs = (): Array<string> => [...nodeFlags(), join(process.cwd(), "dist/main.js"), "run"]

const bareServerArgs = () => [...nodeFlags(), join(process.cwd(), "bench/bareServer.mjs")]

interface Verdicts {
  readonly items: number
  readonly alerted: number
  readonly others: string
}

/** The bot's item outcomes so far (read-only, beside the running bot): how many items it has decided, and why. */
const verdicts = (dataDir: string): Verdicts => {
  const db = new Database(databaseFile(dataDir), { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare("SELECT outcome, COUNT(*) AS n FROM item_archive GROUP BY outcome").all() as Array<{
      outcome: string
      n: number
    }>
    const count = (outcome: string) => rows.find((row) => row.outcome === outcome)?.n ?? 0
    return {
      items: rows.reduce((sum, row) => sum + row.n, 0),
      alerted: count("alerted"),
      others: rows
        .filter((row) => row.outcome !== "alerted")
        .map((row) => `${row.n} ${row.outcome}`)
        .join(", ")
    }
  } finally {
    db.close()
  }
}

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Resident set of one process, from /proc (Linux), in KiB; worker threads are included. */
const rssKib = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  if (match?.[1] === undefined) throw new Error(`no VmRSS for ${pid}`)
  return Number(match[1])
}

interface Started {
  readonly child: ChildProcess
  readonly readyMs: number
  readonly output: () => string
}

/** Spawns `command`, resolves once its output matches `ready`; the child is killed (its whole group) with the scope. */
const started = (
  command: string,
  args: ReadonlyArray<string>,
  options: { cwd: string; env: NodeJS.ProcessEnv },
  ready: RegExp
) =>
  Effect.acquireRelease(
    Effect.async<Started, Error>((resume) => {
      const begun = performance.now()
      const child = spawn(command, args, { ...options, stdio: ["pipe", "pipe", "pipe"], detached: true })
      let output = ""
      const timer = setTimeout(
        () => resume(Effect.fail(new Error(`${command} ${args.join(" ")} not ready in 120 s:\n${output}`))),
        120_000
      )
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (!ready.test(output)) return
        clearTimeout(timer)
        child.stdout!.off("data", onData)
        child.stderr!.off("data", onData)
        child.stdout!.on("data", (more: Buffer) => (output += more.toString()))
        child.stderr!.on("data", (more: Buffer) => (output += more.toString()))
        resume(Effect.succeed({ child, readyMs: performance.now() - begun, output: () => output }))
      }
      child.stdout!.on("data", onData)
      child.stderr!.on("data", onData)
      child.once("exit", (code) => {
        clearTimeout(timer)
        resume(Effect.fail(new Error(`${command} ${args.join(" ")} exited (${code}) before it was ready:\n${output}`)))
      })
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL")
      })
  )

const emptyDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "catalyst-bench-memory-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** The bot's environment: the world's endpoints, fast limits, no health server, no tracing; nothing from the shell. */
const botEnv = (world: World.World): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH ?? "",
  ...world.env,
  POLL_SECONDS: "1",
  SEC_POLL_SECONDS: "1",
  POLL_SECONDS_CLOSED: "1",
  LLM_RPM: "0",
  DISCORD_GLOBAL_RATE_LIMIT: "50",
  OTEL_EXPORTER_OTLP_ENDPOINT: "",
  TIINGO_API_KEY: "",
  LOG_LEVEL: "Info"
})

const fastDiscord = { limit: 1_000, windowMs: 1_000, globalPerSecond: 1_000 }

const waitUntil = (condition: () => boolean, timeoutMs: number, onTick: () => void = () => {}) =>
  Effect.async<boolean>((resume) => {
    const deadline = Date.now() + timeoutMs
    const tick = setInterval(() => {
      onTick()
      if (condition() || Date.now() > deadline) {
        clearInterval(tick)
        resume(Effect.succeed(condition()))
      }
    }, 100)
    return Effect.sync(() => clearInterval(tick))
  })

/** The bare Effect HTTP server, started in an empty directory and listening; stopped with the scope. */
const startedBareServer = Effect.flatMap(emptyDir, (cwd) =>
  started(process.execPath, bareServerArgs(), { cwd, env: { PATH: process.env.PATH ?? "" } }, /listening \d+/)
)

/** RSS of the bare Effect HTTP server, settled. */
const bareServerRss = Effect.gen(function* () {
  const bare = yield* startedBareServer
  yield* Effect.sleep("3 seconds")
  return rssKib(bare.child.pid!)
})

/** RSS of `run` with the default settings (no LLM) against `world`, after its first empty polls; stopped after. */
const keywordsOnlyRss = (world: World.World) =>
  Effect.scoped(
    Effect.gen(function* () {
      const cwd = yield* emptyDir
      const dataDir = yield* emptyDir
      const bot = yield* started(
        process.execPath,
        startArgs(),
        { cwd, env: { ...botEnv(world), LLM_PROVIDER: "none", DATA_DIR: dataDir } },
        /runner started/
      )
      yield* Effect.sleep("6 seconds")
      return rssKib(bot.child.pid!)
    })
  )

/** dist/ up to date, as `npm start` would make it. */
const buildDist = () => {
  const build = spawnSync(process.execPath, ["scripts/build-if-stale.mjs"], { stdio: "inherit" })
  if (build.status !== 0) throw new Error("scripts/build-if-stale.mjs failed")
}

/** bench:check: idle RSS of the bot (default settings) against the bare Effect server started beside it. */
export const checked = async (): Promise<ReadonlyArray<CheckedFigure>> => {
  buildDist()
  const { bareRss, botRss } = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const bareRss = yield* bareServerRss
        return { bareRss, botRss: yield* keywordsOnlyRss(yield* World.make({ discord: fastDiscord })) }
      })
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
  )
  return [
    {
      label: "idle RSS of `run` (LLM_PROVIDER=none), against a bare Effect HTTP server",
      ratio: botRss / bareRss,
      target: targets.idleRssVersusBare,
      detail: `bot ${Math.round(mib(botRss))} MiB / bare ${Math.round(mib(bareRss))} MiB`
    }
  ]
}

/** Idle and burst RSS of the bot, and the bare server's RSS, each process started fresh. */
const memory = Effect.scoped(
  Effect.gen(function* () {
    const bareRss = yield* bareServerRss
    const world = yield* World.make({ discord: fastDiscord })
    const keywordsOnly = yield* keywordsOnlyRss(world)
    const cwd = yield* emptyDir
    const bot = yield* started(process.execPath, startArgs(), { cwd, env: botEnv(world) }, /runner started/)
    // A few empty cycles first: idle means started and polling, with nothing new to process.
    yield* Effect.sleep("6 seconds")
    const idleRss = rssKib(bot.child.pid!)

    const before = { alerts: world.alerts().length, items: verdicts(world.env.DATA_DIR!).items }
    const stories = world.publishNews(burstStories)
    let peakRss = idleRss
    let decided = verdicts(world.env.DATA_DIR!)
    let unchangedSince = Date.now()
    // Settled: no new item outcome for 3 s, and every item the bot alerted on is on Discord.
    yield* waitUntil(
      () =>
        decided.items > before.items &&
        Date.now() - unchangedSince >= 3_000 &&
        world.alerts().length >= decided.alerted,
      60_000,
      () => {
        peakRss = Math.max(peakRss, rssKib(bot.child.pid!))
        const now = verdicts(world.env.DATA_DIR!)
        if (now.items !== decided.items) unchangedSince = Date.now()
        decided = now
      }
    )
    if (world.alerts().length === before.alerts) {
      throw new Error(`burst: no alert delivered in 60 s\n${bot.output().slice(-4_000)}`)
    }
    return {
      bareRss,
      keywordsOnly,
      idleRss,
      peakRss,
      delivered: world.alerts().length,
      decided,
      stories: stories.length
    }
  })
).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

const wallMs = (command: string, args: ReadonlyArray<string>) => {
  const begun = performance.now()
  const run = spawnSync(command, args, { encoding: "utf8" })
  if (run.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${run.stderr}`)
  return { ms: performance.now() - begun, stdout: run.stdout }
}

/** `npm start` (its build check included) until "runner started", and the bare server's start-up, `startRuns` times each. */
const startUp = Effect.gen(function* () {
  const npmMs: Array<number> = []
  const bareMs: Array<number> = []
  for (let round = 0; round < startRuns; round++) {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const world = yield* World.make({ discord: fastDiscord })
        const bot = yield* started("npm", ["start"], { cwd: process.cwd(), env: botEnv(world) }, /runner started/)
        npmMs.push(bot.readyMs)
      })
    ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
    yield* Effect.scoped(Effect.map(startedBareServer, (bare) => bareMs.push(bare.readyMs)))
  }
  return { npmMs: median(npmMs), bareMs: median(bareMs) }
})

export const run = async (): Promise<BenchReport> => {
  buildDist()
  const measured = await Effect.runPromise(memory)
  const version = wallMs(process.execPath, ["dist/main.js", "--version"]).stdout.trim()
  const versionMs = median(
    Array.from({ length: versionRuns }, () => wallMs(process.execPath, ["dist/main.js", "--version"]).ms)
  )
  const nodeMs = median(Array.from({ length: versionRuns }, () => wallMs(process.execPath, ["-e", "0"]).ms))
  const start = await Effect.runPromise(startUp)

  const bare = { label: "bare Effect HTTP server, MiB", value: mib(measured.bareRss) }
  const figures: Array<Figure> = [
    {
      label: "idle RSS of `run`, LLM_PROVIDER=none (the default): started, polling, nothing new",
      value: mib(measured.keywordsOnly),
      unit: "MiB",
      baseline: bare,
      ratio: measured.keywordsOnly / measured.bareRss,
      ...judge(targets.idleRssVersusBare, mib(measured.keywordsOnly), measured.keywordsOnly / measured.bareRss)
    },
    {
      label: "idle RSS of `run`, LLM_PROVIDER=openai (the world's): started, polling, nothing new",
      value: mib(measured.idleRss),
      unit: "MiB",
      baseline: bare,
      ratio: measured.idleRss / measured.bareRss,
      target: "≤ 150 MiB (ratio: bot / bare)",
      pass: mib(measured.idleRss) <= 150
    },
    {
      label: `peak RSS while delivering a burst (${measured.stories} stories: ${measured.delivered} of the ${measured.decided.alerted} alerts the bot decided delivered; ${measured.decided.others})`,
      value: mib(measured.peakRss),
      unit: "MiB",
      baseline: bare,
      ratio: measured.peakRss / measured.bareRss,
      target: "≤ 250 MiB (ratio: bot / bare)",
      pass: mib(measured.peakRss) <= 250
    },
    {
      label: `\`--version\` (prints ${version}), wall time, median of ${versionRuns}`,
      value: versionMs,
      unit: "ms",
      baseline: { label: "`node -e 0`, ms", value: nodeMs },
      ratio: versionMs / nodeMs,
      target: "≤ 500 ms (ratio: ours / bare node)",
      pass: versionMs <= 500
    },
    {
      label: `\`npm start\` with nothing changed until "runner started", median of ${startRuns}`,
      value: start.npmMs,
      unit: "ms",
      baseline: { label: "bare Effect HTTP server until listening, ms", value: start.bareMs },
      ratio: start.npmMs / start.bareMs,
      target: "≤ 3000 ms (ratio: ours / bare)",
      pass: start.npmMs <= 3_000
    }
  ]
  return { name: "memory", figures }
}

if (isMain(import.meta.url)) publish(await run())
