import { Effect } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A stand-in for an OpenAI-compatible LLM API on 127.0.0.1, speaking both dialects:
 * - `POST /responses`: OpenAI's Responses API, which `@effect/ai-openai` 0.41 calls;
 * - `POST /chat/completions`: the chat-completions format (Google's Gemini endpoint, local servers).
 *
 * Each call takes the next scripted behaviour, or the default one when the script is empty:
 * an answer, an HTTP status (429 carries `retry-after`), malformed JSON, or any of them after a delay.
 * It records every request with its time, and checks each JSON schema against OpenAI's strict
 * structured-output rules (every property required, no additional properties). With
 * `refuseResponses` it plays a chat-completions-only server (Ollama, vLLM, LM Studio, llama.cpp),
 * answering `/responses` with that status. `GET /models` lists the models it serves; a request
 * without a model is rejected with 400 before anything is generated, as real servers do.
 */

export interface FakeAnalysis {
  readonly category: string
  readonly sentiment: number
  readonly confidence: number
  readonly summary: string
  readonly key_facts: ReadonlyArray<string>
  readonly is_material: boolean
}

export type FakeLlmBehaviour =
  | { readonly _tag: "Answer"; readonly analysis?: FakeAnalysis; readonly delayMs?: number }
  | { readonly _tag: "Status"; readonly status: number; readonly delayMs?: number }
  | { readonly _tag: "Malformed"; readonly delayMs?: number }

export interface FakeLlmCall {
  readonly at: number
  readonly path: string
  /** The Authorization header, or null when the client sent none (keyless local servers). */
  readonly authorization: string | null
  readonly body: any
  /** Strict-mode rule the request's JSON schema breaks, or null. */
  readonly strictViolation: string | null
}

export const defaultAnalysis: FakeAnalysis = {
  category: "fda_approval",
  sentiment: 0.8,
  confidence: 0.9,
  summary: "The FDA approved the company's lead product.",
  key_facts: ["FDA approval", "lead product"],
  is_material: true
}

export const answer = (analysis: FakeAnalysis = defaultAnalysis, delayMs = 0): FakeLlmBehaviour => ({
  _tag: "Answer",
  analysis,
  delayMs
})
export const status = (code: number, delayMs = 0): FakeLlmBehaviour => ({ _tag: "Status", status: code, delayMs })
export const malformed: FakeLlmBehaviour = { _tag: "Malformed" }

/** OpenAI strict mode: every object lists all its properties as required and forbids others. */
const strictViolation = (schema: any, path = "$"): string | null => {
  if (typeof schema !== "object" || schema === null) return null
  if (schema.type === "object" || schema.properties !== undefined) {
    const properties = Object.keys(schema.properties ?? {})
    const required: Array<string> = schema.required ?? []
    const missing = properties.filter((name) => !required.includes(name))
    if (missing.length > 0) return `${path}: optional properties ${missing.join(", ")}`
    if (schema.additionalProperties !== false) return `${path}: additionalProperties must be false`
    for (const name of properties) {
      const inner = strictViolation(schema.properties[name], `${path}.${name}`)
      if (inner !== null) return inner
    }
  }
  if (schema.items !== undefined) return strictViolation(schema.items, `${path}[]`)
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    for (const branch of schema[key] ?? []) {
      const inner = strictViolation(branch, path)
      if (inner !== null) return inner
    }
  }
  return null
}

const schemaOf = (path: string, body: any): unknown =>
  path === "/responses" ? body?.text?.format?.schema : body?.response_format?.json_schema?.schema

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

const responsesBody = (model: string, text: string, inputTokens: number, id: number) => ({
  id: `resp_${id}`,
  object: "response",
  created_at: Math.floor(Date.now() / 1000),
  status: "completed",
  error: null,
  incomplete_details: null,
  instructions: null,
  model,
  output: [
    {
      id: `msg_${id}`,
      type: "message",
      role: "assistant",
      status: "completed",
      content: [{ type: "output_text", text, annotations: [] }]
    }
  ],
  parallel_tool_calls: true,
  tool_choice: "auto",
  tools: [],
  metadata: {},
  temperature: 1,
  top_p: 1,
  usage: {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: tokens(text),
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + tokens(text)
  }
})

const chatBody = (model: string, text: string, inputTokens: number, id: number) => ({
  id: `chatcmpl-${id}`,
  object: "chat.completion",
  created: Math.floor(Date.now() / 1000),
  model,
  choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, finish_reason: "stop" }],
  usage: { prompt_tokens: inputTokens, completion_tokens: tokens(text), total_tokens: inputTokens + tokens(text) }
})

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

export interface FakeOpenAi {
  /** Base URL to give the adapter (LLM_BASE_URL), without a trailing slash. */
  readonly url: string
  readonly calls: () => ReadonlyArray<FakeLlmCall>
  readonly callCount: () => number
  /** Answers actually sent; a client that gave up before its (delayed) answer isn't counted. */
  readonly answered: () => number
  /** Behaviours for the next calls, in order; afterwards the default applies again. */
  readonly script: (...behaviours: ReadonlyArray<FakeLlmBehaviour>) => void
  readonly setDefault: (behaviour: FakeLlmBehaviour) => void
  /** Forgets recorded calls, so a long run (soak, demo) keeps constant memory. */
  readonly clearRecords: () => void
}

export const make = (
  options: {
    readonly defaultBehaviour?: FakeLlmBehaviour
    /** The analysis for an `Answer` that names none, from the request body (e.g. to match the prompt's story). */
    readonly analyse?: (requestBody: string) => FakeAnalysis
    /** Answer every `/responses` call with this status (e.g. 501 or 404), as servers without that API do. */
    readonly refuseResponses?: number
    /** What `GET /models` lists (OpenAI's list-models; `/v1/models` too, where Anthropic's is). */
    readonly models?: ReadonlyArray<string>
    /** When set, every request must carry this key (`Authorization: Bearer` or `x-api-key`) or gets 401. */
    readonly apiKey?: string
  } = {}
) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: ReturnType<typeof createServer>; readonly fake: FakeOpenAi }>((resume) => {
      let calls: Array<FakeLlmCall> = []
      const queue: Array<FakeLlmBehaviour> = []
      let fallback = options.defaultBehaviour ?? answer()
      let answered = 0

      const reply = (response: ServerResponse, code: number, body: string, headers: Record<string, string> = {}) => {
        if (response.destroyed) return
        answered += 1
        response.writeHead(code, { "content-type": "application/json", ...headers })
        response.end(body)
      }

      const server = createServer((request, response) => {
        void readBody(request).then((raw) => {
          const path = (request.url ?? "").replace(/\?.*$/, "")
          const key = request.headers.authorization?.replace(/^Bearer /, "") ?? request.headers["x-api-key"]
          if (options.apiKey !== undefined && key !== options.apiKey) {
            return reply(response, 401, JSON.stringify({ error: { message: "Incorrect API key provided" } }))
          }
          if (request.method === "GET" && (path === "/models" || path === "/v1/models")) {
            const data = (options.models ?? ["gpt-4o-mini"]).map((id) => ({ id, object: "model", owned_by: "fake" }))
            return reply(response, 200, JSON.stringify({ object: "list", data }))
          }
          if (request.method !== "POST" || (path !== "/responses" && path !== "/chat/completions")) {
            return reply(response, 404, JSON.stringify({ error: { message: `no route ${request.method} ${path}` } }))
          }
          let body: any = null
          try {
            body = JSON.parse(raw)
          } catch {
            return reply(response, 400, JSON.stringify({ error: { message: "request body is not JSON" } }))
          }
          calls.push({
            at: Date.now(),
            path,
            authorization: request.headers.authorization ?? null,
            body,
            strictViolation: strictViolation(schemaOf(path, body))
          })
          if (path === "/responses" && options.refuseResponses !== undefined) {
            return reply(response, options.refuseResponses, JSON.stringify({ error: { message: "not implemented" } }))
          }
          if (typeof body?.model !== "string") {
            return reply(response, 400, JSON.stringify({ error: { message: "you must provide a model parameter" } }))
          }
          const id = calls.length
          const behaviour = queue.shift() ?? fallback
          const model = String(body.model ?? "fake-model")
          const inputTokens = tokens(raw)
          const respond = () => {
            switch (behaviour._tag) {
              case "Status":
                return reply(
                  response,
                  behaviour.status,
                  JSON.stringify({ error: { message: `scripted ${behaviour.status}`, type: "fake", code: null } }),
                  behaviour.status === 429 ? { "retry-after": "0" } : {}
                )
              case "Malformed":
              case "Answer": {
                const text =
                  behaviour._tag === "Malformed"
                    ? '{"category": "fda_approval", "sentiment": 0.8, "summ'
                    : JSON.stringify(behaviour.analysis ?? options.analyse?.(raw) ?? defaultAnalysis)
                const payload =
                  path === "/responses"
                    ? responsesBody(model, text, inputTokens, id)
                    : chatBody(model, text, inputTokens, id)
                return reply(response, 200, JSON.stringify(payload))
              }
            }
          }
          const delayMs = behaviour.delayMs ?? 0
          if (delayMs > 0) setTimeout(respond, delayMs)
          else respond()
        })
      })

      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({
            server,
            fake: {
              url: `http://127.0.0.1:${port}`,
              calls: () => [...calls],
              callCount: () => calls.length,
              answered: () => answered,
              script: (...behaviours) => void queue.push(...behaviours),
              setDefault: (behaviour) => void (fallback = behaviour),
              clearRecords: () => void (calls = [])
            }
          })
        )
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ fake }) => fake))
