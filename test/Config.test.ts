import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Redacted } from "effect"
import { AppConfig, describeConfigError } from "../src/Kernel/AppConfig.js"
import { runCli } from "./support/Cli.js"
import { configLayer } from "./support/TestLayers.js"

const load = (values: Record<string, string>) =>
  Effect.either(AppConfig.pipe(Effect.provide(AppConfig.Default), Effect.provide(configLayer(values))))

describe("Kernel/AppConfig", () => {
  it.effect("uses the embedded defaults when nothing is set", () =>
    Effect.gen(function* () {
      const config = yield* Effect.flatten(load({}))
      expect(config.runner.pollSeconds).toBe(2)
      expect(config.storage.dataDir).toBe("./data")
      expect(config.storage.synchronous).toBe("NORMAL")
      expect(Option.isNone(config.discord.webhookUrl)).toBe(true)
    })
  )

  it.effect("names every bad variable at once, with what it expects", () =>
    Effect.gen(function* () {
      const result = yield* load({
        POLL_SECONDS: "abc",
        SQLITE_SYNCHRONOUS: "SOMETIMES",
        DISCORD_WEBHOOK_URL: "ftp://discord.example/api/webhooks/1/secret-token",
        SEC_RATE_LIMIT: "50"
      })
      const lines = Either.isLeft(result) ? describeConfigError(result.left) : []
      expect(lines).toHaveLength(4)
      expect(lines.find((l) => l.startsWith("POLL_SECONDS:"))).toMatch(/integer/)
      expect(lines.find((l) => l.startsWith("SQLITE_SYNCHRONOUS:"))).toMatch(/OFF, NORMAL, FULL, EXTRA/)
      expect(lines.find((l) => l.startsWith("DISCORD_WEBHOOK_URL:"))).toMatch(/http\(s\) URL/)
      expect(lines.find((l) => l.startsWith("SEC_RATE_LIMIT:"))).toMatch(/at most 10/)
      expect(lines.join("\n")).not.toContain("secret-token")
    })
  )

  it.effect("refuses a poll interval below the 1 s floor, naming the setting", () =>
    Effect.gen(function* () {
      const result = yield* load({ POLL_SECONDS: "0", POLL_SECONDS_CLOSED: "30", SEC_POLL_SECONDS: "-1" })
      const lines = Either.isLeft(result) ? describeConfigError(result.left) : []
      expect(lines).toHaveLength(2)
      expect(lines.find((l) => l.startsWith("POLL_SECONDS:"))).toMatch(/integer >= 1/)
      expect(lines.find((l) => l.startsWith("SEC_POLL_SECONDS:"))).toMatch(/integer >= 1/)
    })
  )

  it.effect("keeps webhook URLs redacted", () =>
    Effect.gen(function* () {
      const config = yield* Effect.flatten(load({ DISCORD_WEBHOOK_URL: "https://discord.com/api/webhooks/1/tok" }))
      const webhook = Option.getOrThrow(config.discord.webhookUrl)
      expect(String(webhook)).toBe("<redacted>")
      expect(JSON.stringify(config)).not.toContain("tok")
      expect(Redacted.value(webhook)).toBe("https://discord.com/api/webhooks/1/tok")
    })
  )

  it("fails the process before any work with one readable message and no stack trace", async () => {
    const result = await runCli(["once"], { POLL_SECONDS: "abc", SQLITE_SYNCHRONOUS: "SOMETIMES" })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain("Invalid configuration")
    expect(result.stderr).toContain("POLL_SECONDS")
    expect(result.stderr).toContain("SQLITE_SYNCHRONOUS")
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(result.stdout).toBe("")
  }, 120_000)
})
