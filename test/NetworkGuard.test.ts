import { HttpClient } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import dns from "node:dns"
import { writeFileSync } from "node:fs"
import { createServer, connect, type AddressInfo } from "node:net"
import { join } from "node:path"
import { spawnCli } from "./support/Cli.js"
import { NetworkGuardError, takeViolations } from "./support/NetworkGuardState.js"
import { tempDir } from "./support/TestLayers.js"

/** A private address no test has any business with. */
const privateHost = "10.255.255.1"

describe("the network guard, in the test process", () => {
  it("throws on a connect beyond loopback before any packet leaves", () => {
    // A real attempt, answered or not, never throws synchronously: the throw means none was made.
    expect(() => connect({ host: privateHost, port: 80 })).toThrow(NetworkGuardError)
    expect(() => connect(443, "catalyst-bot-canary.example")).toThrow(/catalyst-bot-canary\.example:443/)
    expect(() => dns.lookup("example.com", () => {})).toThrow(/resolve example\.com/)
    expect(() => dns.promises.lookup("example.org")).toThrow(/resolve example\.org/)
    expect(() => new dns.Resolver().resolve4("example.net", () => {})).toThrow(/resolve example\.net/)
    expect(takeViolations()).toEqual([
      `connect ${privateHost}:80`,
      "connect catalyst-bot-canary.example:443",
      "resolve example.com",
      "resolve example.org",
      "resolve example.net"
    ])
  })

  it.effect("stops the bot's HTTP client (undici), over http and https, naming the host", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      for (const url of [`http://${privateHost}/feed`, "https://wire.example.invalid/rss"]) {
        const error = yield* Effect.flip(client.get(url))
        expect(String(error.cause)).toContain("network guard: blocked")
      }
      expect(takeViolations()).toEqual([`connect ${privateHost}:80`, "connect wire.example.invalid:443"])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it("lets loopback through", async () => {
    const server = createServer((socket) => socket.end("hello"))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    for (const host of ["127.0.0.1", "localhost"]) {
      const reply = await new Promise<string>((resolve, reject) => {
        let text = ""
        connect(port, host)
          .on("data", (chunk) => (text += chunk.toString()))
          .on("end", () => resolve(text))
          .on("error", reject)
      })
      expect(reply).toBe("hello")
    }
    server.close()
    expect(takeViolations()).toEqual([])
  })
})

describe("the network guard, in a spawned bot", () => {
  it.scoped(
    "blocks a feed on a real host, and reports it to the test",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const feeds = join(dir, "feeds.json")
        writeFileSync(
          feeds,
          JSON.stringify([
            { name: "Private", url: `http://${privateHost}/rss`, kind: "rss" },
            { name: "Named", url: "https://wire.example.invalid/rss", kind: "rss" }
          ])
        )
        const bot = spawnCli(["once"], { FEEDS_FILE: feeds, FEED_RETRIES: "0" })
        const result = yield* Effect.promise(() => bot.exited)
        expect(result.stdout).toMatch(/feed Private: failed: .*ERR_NETWORK_GUARD/)
        expect(result.stdout).toMatch(/feed Named: failed: .*ERR_NETWORK_GUARD/)
        expect(bot.takeViolations()).toEqual(
          expect.arrayContaining([`connect ${privateHost}:80`, "connect wire.example.invalid:443"])
        )
      }),
    90_000
  )
})

describe("the network guard's verdict", () => {
  it("fails a test that swallowed the blocked call, naming the test and the host", async () => {
    const config = join(import.meta.dirname, "fixtures/network-guard/vitest.config.ts")
    const vitest = join(import.meta.dirname, "../node_modules/vitest/vitest.mjs")
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile(
        process.execPath,
        [vitest, "run", "--config", config, "--color=false"],
        { env: { PATH: process.env.PATH ?? "" } },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr })
      )
    )
    expect(code).toBe(1)
    expect(output).toContain('network guard: test "swallows a failed request to a private address"')
    expect(output).toContain(`connect ${privateHost}:8080`)
    expect(output).toMatch(/1 failed \| 1 passed/)
  }, 90_000)
})
