import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { UsageMonitor } from "../src/Classification/UsageMonitor.js"
import { EditOutbox } from "../src/Delivery/EditOutbox.js"
import { Outbox } from "../src/Delivery/Outbox.js"
import { FeedStateRepo } from "../src/Feeds/FeedStateRepo.js"
import { AppConfig } from "../src/Kernel/AppConfig.js"
import { SqlLive } from "../src/Kernel/Sql.js"
import { alertFixture } from "./support/Alerts.js"
import { databaseConfig, databases } from "./support/Databases.js"

/** The stores whose own suites exercise them through the pipeline, here directly on both databases. */
describe.each(databases)("stores on %s", (kind) => {
  const StoresLive = Layer.mergeAll(
    Outbox.Default,
    EditOutbox.Default,
    FeedStateRepo.Default,
    UsageMonitor.Default
  ).pipe(Layer.provideMerge(SqlLive), Layer.provideMerge(AppConfig.Default), Layer.provide(databaseConfig(kind)))

  it.scoped("Outbox and EditOutbox: enqueue once, deliver in order, count by status, queue and settle edits", () =>
    Effect.gen(function* () {
      const outbox = yield* Outbox
      const edits = yield* EditOutbox
      yield* TestClock.setTime(Date.UTC(2026, 10, 24, 15))
      const alerts = [alertFixture(1), alertFixture(2), alertFixture(3)]
      yield* outbox.enqueue(alerts)
      yield* outbox.enqueue([alerts[0]!])
      const due = yield* outbox.due(10)
      expect(due.map((row) => row.alert.item.id)).toEqual(alerts.map((alert) => alert.item.id))
      yield* outbox.markSending(due[0]!.id)
      expect(yield* outbox.markDelivered(due[0]!.id, "m1")).toBe(0)
      yield* outbox.reschedule(due[1]!.id, "503", Date.UTC(2026, 10, 24, 16), true)
      expect(yield* outbox.counts()).toMatchObject({ delivered: 1, pending: 2 })
      expect((yield* outbox.pendingStats).depth).toBe(2)

      yield* edits.request(due[0]!.id, "llm")
      yield* edits.request(due[0]!.id, "chart")
      const pending = yield* edits.due(10)
      expect(pending.map((edit) => [edit.outboxId, edit.reason])).toEqual([
        [due[0]!.id, "llm"],
        [due[0]!.id, "chart"]
      ])
      expect(yield* edits.pendingFor([due[0]!.id])).toEqual(pending.map((edit) => edit.id))
      yield* edits.settle(
        pending.map((edit) => edit.id),
        "sent",
        null
      )
      expect(yield* edits.pendingCount).toBe(0)
    }).pipe(Effect.provide(StoresLive))
  )

  it.scoped("FeedStateRepo keeps the latest validators per URL", () =>
    Effect.gen(function* () {
      const repo = yield* FeedStateRepo
      yield* repo.save("https://a.example/feed", { etag: "1", lastModified: null, bodyHash: "h1" })
      yield* repo.save("https://a.example/feed", { etag: "2", lastModified: "Mon", bodyHash: "h2" })
      yield* repo.save("https://b.example/feed", { etag: null, lastModified: null, bodyHash: null })
      const found = yield* repo.getMany(["https://a.example/feed", "https://b.example/feed", "https://c.example/"])
      expect(Object.fromEntries(found)).toEqual({
        "https://a.example/feed": { etag: "2", lastModified: "Mon", bodyHash: "h2" },
        "https://b.example/feed": { etag: null, lastModified: null, bodyHash: null }
      })
    }).pipe(Effect.provide(StoresLive))
  )

  it.scoped("UsageMonitor adds up a day's calls, tokens and cost as numbers", () =>
    Effect.gen(function* () {
      const monitor = yield* UsageMonitor
      yield* monitor.record({ provider: "openai", model: "gpt-4o-mini", inputTokens: 1_000, outputTokens: 200 })
      yield* monitor.record({ provider: "openai", model: "gpt-4o-mini", inputTokens: 3_000_000_000, outputTokens: 5 })
      const today = yield* monitor.today
      expect(today).toMatchObject({ calls: 2, inputTokens: 3_000_001_000, outputTokens: 205 })
      expect(typeof today.costUsd).toBe("number")
    }).pipe(Effect.provide(StoresLive))
  )
})
