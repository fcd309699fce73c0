import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Classifier } from "../src/Classification/Classifier.js"
import type { LlmVerdict, NormalizedItem } from "../src/Kernel/Domain.js"
import { StatusBoard } from "../src/Kernel/StatusBoard.js"
import { LlmStatus } from "../src/Classification/LlmAnalyst.js"
import * as FakeOpenAi from "../src/World/FakeOpenAi.js"
import { refusedUrl } from "./support/Cli.js"
import { configLayer, tempDir } from "./support/TestLayers.js"
import { newsItem } from "./support/Alerts.js"

/**
 * The real provider layers (@effect/ai-openai over the Responses API, and the chat-completions
 * adapter used for Gemini) end to end against the fake OpenAI server on 127.0.0.1.
 */

const classifyWith = (values: Record<string, string | number>, items: ReadonlyArray<NormalizedItem>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* Effect.gen(function* () {
      const batch = yield* Effect.flatMap(Classifier, (c) => c.classifyBatch(items))
      const status = Option.getOrNull(yield* Effect.flatMap(StatusBoard, (board) => board.get(LlmStatus)))
      return { ...batch, status }
    }).pipe(
      Effect.provide(
        Layer.merge(Classifier.Default, StatusBoard.Default).pipe(
          Layer.provide(NodeHttpClient.layerUndici),
          Layer.provide(
            configLayer({
              DATA_DIR: dir,
              // The LLM stage itself: the verdict in the batch, as LLM_MODE=gate has it.
              LLM_MODE: "gate",
              LLM_RPM: 0,
              LLM_API_KEY: "sk-test",
              // Never sec.gov: the SEC tests below name their own fake.
              SEC_BASE_URL: refusedUrl,
              SEC_SUBMISSIONS_URL: refusedUrl,
              ...values
            })
          )
        )
      )
    )
  })

const openai = (url: string) => ({ LLM_PROVIDER: "openai", LLM_BASE_URL: url, LLM_MODEL: "gpt-4o-mini" })
const verdicts = (batch: { items: ReadonlyArray<{ classification: { llm: LlmVerdict } }> }) =>
  batch.items.map((entry) => entry.classification.llm)

describe("LLM providers against the fake OpenAI server", () => {
  it.scopedLive("openai: a strict json_schema request on /responses, decoded and costed", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make()
      const batch = yield* classifyWith(openai(fake.url), [newsItem("a", "Acme Receives FDA Approval")])
      expect(verdicts(batch)).toEqual([{ _tag: "Analysed", analysis: FakeOpenAi.defaultAnalysis, cached: false }])
      const [call] = fake.calls()
      expect(call?.path).toBe("/responses")
      expect(call?.strictViolation).toBeNull()
      expect(call?.body.text.format).toMatchObject({ type: "json_schema", strict: true })
      expect(JSON.stringify(call?.body.input)).toContain("Acme Receives FDA Approval")
      expect(batch.status).toMatchObject({ provider: "openai", model: "gpt-4o-mini", calls: 1, breaker: "Closed" })
      expect(batch.status?.inputTokens).toBeGreaterThan(0)
    })
  )

  it.scopedLive("openai: a 429 is retried and the item is analysed", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make()
      fake.script(FakeOpenAi.status(429))
      const batch = yield* classifyWith({ ...openai(fake.url), LLM_RETRIES: 2 }, [
        newsItem("a", "Acme Receives FDA Approval")
      ])
      expect(fake.callCount()).toBe(2)
      expect(verdicts(batch)[0]?._tag).toBe("Analysed")
    })
  )

  it.scopedLive("openai: repeated 500s open the breaker; items fall back to keywords without further calls", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make({ defaultBehaviour: FakeOpenAi.status(500) })
      const titles = ["Acme", "Beta", "Gamma", "Delta"].map((name) => `${name} Receives FDA Approval`)
      const batch = yield* classifyWith(
        { ...openai(fake.url), LLM_RETRIES: 1, LLM_BREAKER_THRESHOLD: 2, LLM_CONCURRENCY: 1 },
        titles.map((title, i) => newsItem(`i${i}`, title))
      )
      // two items × (1 try + 1 retry), then the open breaker turns the rest away
      expect(fake.callCount()).toBe(4)
      expect(verdicts(batch).map((v) => v._tag)).toEqual(Array(4).fill("Unavailable"))
      expect(verdicts(batch)[0]).toEqual({ _tag: "Unavailable", reason: "provider answered HTTP 500" })
      expect(JSON.stringify(verdicts(batch)[3])).toContain("paused after repeated failures")
      expect(batch.items.every((entry) => entry.classification.categories.includes("fda_approval"))).toBe(true)
      expect(batch.notes.some((note) => note.startsWith("LLM breaker open"))).toBe(true)
      expect(batch.status).toMatchObject({ breaker: "Open" })
    })
  )

  it.scopedLive("openai: malformed JSON output falls back to keywords without a retry", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make({ defaultBehaviour: FakeOpenAi.malformed })
      const batch = yield* classifyWith(openai(fake.url), [newsItem("a", "Acme Receives FDA Approval")])
      expect(fake.callCount()).toBe(1)
      expect(verdicts(batch)).toEqual([
        { _tag: "Unavailable", reason: "provider returned output that doesn't match the schema" }
      ])
      expect(batch.items[0]?.classification.score).toBe(3)
    })
  )

  it.scopedLive("openai: a slow provider hits LLM_TIMEOUT_SECONDS and the item falls back before it answers", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make({ defaultBehaviour: FakeOpenAi.answer(FakeOpenAi.defaultAnalysis, 3_000) })
      const batch = yield* classifyWith({ ...openai(fake.url), LLM_TIMEOUT_SECONDS: 0.3 }, [
        newsItem("a", "Acme Receives FDA Approval")
      ])
      expect(verdicts(batch)).toEqual([{ _tag: "Unavailable", reason: "LLM call timed out" }])
      // Every attempt was given up on while the provider was still thinking.
      expect(fake.callCount()).toBeGreaterThan(0)
      expect(fake.answered()).toBe(0)
    })
  )

  it.scopedLive("google: Gemini through the chat-completions adapter", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make()
      const batch = yield* classifyWith(
        { LLM_PROVIDER: "google", LLM_BASE_URL: fake.url, LLM_MODEL: "gemini-2.0-flash-lite" },
        [newsItem("a", "Acme Receives FDA Approval")]
      )
      expect(verdicts(batch)).toEqual([{ _tag: "Analysed", analysis: FakeOpenAi.defaultAnalysis, cached: false }])
      const [call] = fake.calls()
      expect(call?.path).toBe("/chat/completions")
      expect(call?.strictViolation).toBeNull()
      expect(call?.body.model).toBe("gemini-2.0-flash-lite")
      expect(call?.body.response_format).toMatchObject({ type: "json_schema", json_schema: { strict: true } })
      expect(batch.status).toMatchObject({ provider: "google", calls: 1 })
    })
  )
})

/** A minimal sec.gov: the submissions index and one primary document. */
const fakeSec = Effect.acquireRelease(
  Effect.async<{ url: string; server: ReturnType<typeof createServer>; agents: Array<string> }>((resume) => {
    const agents: Array<string> = []
    const server = createServer((request, response) => {
      agents.push(String(request.headers["user-agent"]))
      if (request.url === "/submissions/CIK0000123456.json") {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(
          JSON.stringify({
            filings: {
              recent: { accessionNumber: ["0000123456-26-000001"], primaryDocument: ["acme-8k.htm"] }
            }
          })
        )
      } else if (request.url === "/Archives/edgar/data/123456/000012345626000001/acme-8k.htm") {
        response.writeHead(200, { "content-type": "text/html" })
        response.end(
          `<html><style>p{}</style><body><p>Item 1.01 Entry into a Material Definitive Agreement.</p><p>Acme &amp; Beta signed a ${"long ".repeat(500)}supply deal.</p></body></html>`
        )
      } else {
        response.writeHead(404)
        response.end()
      }
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, agents }))
    )
  }),
  ({ server }) => Effect.sync(() => server.close())
)

describe("SEC prompts", () => {
  const secItem = newsItem("s", "8-K - ACME CORP (0000123456) (Filer)", {
    formType: "8-K",
    cik: "0000123456",
    accession: "0000123456-26-000001",
    items: ["Item 1.01: Entry into a Material Definitive Agreement"],
    companyName: "ACME CORP"
  })
  const secTitle = { ...secItem, summary: "Acme enters definitive agreement" }

  it.scopedLive("carry the form type, the Items and a size-capped excerpt fetched with the SEC User-Agent", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make()
      const sec = yield* fakeSec
      const batch = yield* classifyWith(
        {
          ...openai(fake.url),
          SEC_USER_AGENT: "Example Capital ops@example.com",
          SEC_BASE_URL: sec.url,
          SEC_SUBMISSIONS_URL: sec.url,
          SEC_EXCERPT_CHARS: 200
        },
        [secTitle]
      )
      expect(verdicts(batch)[0]?._tag).toBe("Analysed")
      const prompt = JSON.stringify(fake.calls()[0]?.body.input)
      expect(prompt).toContain("SEC form type: 8-K")
      expect(prompt).toContain("Items: Item 1.01: Entry into a Material Definitive Agreement")
      expect(prompt).toContain(
        "Primary document excerpt:\\nItem 1.01 Entry into a Material Definitive Agreement. Acme & Beta"
      )
      expect(prompt).not.toContain("supply deal")
      expect(sec.agents).toEqual(["Example Capital ops@example.com", "Example Capital ops@example.com"])
    })
  )

  it.scopedLive("without SEC_USER_AGENT the filing goes on keywords, saying why", () =>
    Effect.gen(function* () {
      const fake = yield* FakeOpenAi.make()
      const batch = yield* classifyWith({ ...openai(fake.url), SEC_EXCERPT_CHARS: 200 }, [secTitle])
      expect(fake.callCount()).toBe(0)
      expect(verdicts(batch)[0]?._tag).toBe("Unavailable")
      expect(JSON.stringify(verdicts(batch)[0])).toContain("SEC_USER_AGENT is not set")
      // The summary's keyword and the filing's Item 1.01 rule.
      expect(batch.items[0]?.classification.categories).toEqual(["acquisition", "material_agreement"])
    })
  )
})
