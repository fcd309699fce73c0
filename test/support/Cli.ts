import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

const mainModule = join(import.meta.dirname, "../../src/main.ts")

/** Starts the real CLI (from source, via tsx) in a child process with its own data dir. */
export const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), "catalyst-bot-cli-"))
  const child = spawn(process.execPath, ["--import", "tsx", mainModule, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env, DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"]
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
  return { child, exited, waitFor, dataDir }
}

export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => spawnCli(args, env).exited
