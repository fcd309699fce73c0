import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A throwaway PostgreSQL server from the installed server binaries (Debian's postgresql package),
 * on a free loopback port, its data in a temporary directory: for the tests' global setup and the
 * store bench. The server refuses to run as root, so as root it runs as the `postgres` user.
 */

export const notInstalled = "PostgreSQL server not installed: apt-get install -y postgresql"

export interface PostgresServer {
  /** The superuser's URL of the `postgres` database (trust authentication, no password). */
  readonly url: string
  readonly port: number
  readonly start: () => void
  readonly stop: () => void
  readonly dispose: () => void
}

const binDir = (): string | null => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return null
  const versions = readdirSync(root)
    .filter((version) => existsSync(join(root, version, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? null : join(root, versions[0], "bin")
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

export const startPostgres = async (): Promise<PostgresServer> => {
  const bin = binDir()
  if (bin === null) throw new Error(notInstalled)
  const asRoot = process.getuid?.() === 0
  const run = (tool: string, args: ReadonlyArray<string>) =>
    execFileSync(
      asRoot ? "runuser" : join(bin, tool),
      asRoot ? ["-u", "postgres", "--", join(bin, tool), ...args] : args,
      {
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
  const dir = mkdtempSync(join(tmpdir(), "catalyst-bot-pg-"))
  if (asRoot) chownSync(dir, Number(execFileSync("id", ["-u", "postgres"]).toString()), 0)
  const data = join(dir, "data")
  const port = await freePort()
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
  // Durability is not what the tests measure; these make every commit cheap.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`
  const start = () => run("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "start"])
  const stop = () => run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
  start()
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    dispose: () => {
      try {
        stop()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
}
