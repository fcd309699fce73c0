import { Effect } from "effect"
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/**
 * A local press-release wire (docs/ARCHITECTURE.md, "Press-release wires"): RSS/Atom feeds at `/feeds/<name>`, each
 * scriptable with latency, failures, status codes, ETag/Last-Modified validators and huge bodies,
 * recording every request it receives. Used by tests, benches and the demo; never a real host.
 */

export interface WireFeedScript {
  readonly body: string | Uint8Array
  readonly contentType?: string
  /** When set, served as ETag, and a matching If-None-Match gets 304. */
  readonly etag?: string
  /** When set, served as Last-Modified, and a matching If-Modified-Since gets 304. */
  readonly lastModified?: string
  readonly latencyMs?: number
  /** Answer 500 this many times before serving the body. */
  readonly failTimes?: number
  /** Always answer this status (with a short HTML body) instead of the feed. */
  readonly status?: number
  /** Stream the body in 16 KiB chunks without Content-Length, so only a streaming size cap can stop it. */
  readonly chunked?: boolean
  /** Instead of `body`: this many bytes of an RSS document generated while streaming (never held in memory). */
  readonly streamBytes?: number
  /** Slowloris: after the headers, one byte of `body` every this many ms, forever. */
  readonly dribbleMs?: number
  /** Never answer: the request stays open until the client gives up. */
  readonly hang?: boolean
}

export interface RecordedRequest {
  readonly path: string
  readonly at: number
  readonly headers: IncomingHttpHeaders
  readonly status: number
}

export interface WireItem {
  readonly title: string
  readonly link: string
  readonly description: string
  readonly pubDate: string | null
  /** GlobeNewswire stock tags, e.g. `Nasdaq:ABCD`. */
  readonly stocks?: ReadonlyArray<string>
}

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** GlobeNewswire-style RSS 2.0: stock tickers as `<category domain=".../rss/stock">`. */
export const globeNewswireRss = (items: ReadonlyArray<WireItem>): string =>
  `<?xml version="1.0" encoding="utf-8"?>
<rss xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>
<title>GlobeNewswire - News about Public Companies</title><link>https://www.globenewswire.com/</link>
<description>Public company news</description>
${items
  .map(
    (item, index) => `<item><guid isPermaLink="false">${index + 1}</guid><link>${escapeXml(item.link)}</link>
${(item.stocks ?? []).map((stock) => `<category domain="https://www.globenewswire.com/rss/stock">${escapeXml(stock)}</category>`).join("")}
<title>${escapeXml(item.title)}</title><description>${escapeXml(`<p>${item.description}</p>`)}</description>
${item.pubDate === null ? "" : `<pubDate>${item.pubDate}</pubDate>`}<dc:creator>GlobeNewswire</dc:creator></item>`
  )
  .join("\n")}
</channel></rss>`

/** PR Newswire-style RSS: tickers only in the text, and `dc:`/`prn:` prefixes used without declaring them. */
export const prNewswireRss = (items: ReadonlyArray<WireItem>): string =>
  `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>PR Newswire: News Releases</title><link>https://www.prnewswire.com/</link>
${items
  .map(
    (item) => `<item><title>${escapeXml(item.title)}</title><link>${escapeXml(item.link)}</link>
<description>${escapeXml(item.description)}</description>${item.pubDate === null ? "" : `<pubDate>${item.pubDate}</pubDate>`}
<dc:creator>PR Newswire</dc:creator><prn:industry>BIO</prn:industry></item>`
  )
  .join("\n")}
</channel></rss>`

const exchanges = ["Nasdaq", "NYSE", "NYSE American", "OTCQB"] as const
const headlines = [
  "Announces FDA Approval of Lead Candidate",
  "Prices $12 Million Registered Direct Offering",
  "Enters Definitive Merger Agreement",
  "Reports Record Third Quarter Revenue",
  "Wins $40 Million Department of Defense Contract",
  "Announces Positive Phase 2 Topline Results"
]

/** `count` realistic wire items, dated `now` minus one minute each, with tickers in tags and text. */
export const sampleWireItems = (count: number, options: { readonly now: number; readonly prefix?: string }) =>
  Array.from({ length: count }, (_, index): WireItem => {
    const symbol = `${options.prefix ?? "ZZ"}${String.fromCharCode(65 + (index % 26))}${String.fromCharCode(65 + (Math.floor(index / 26) % 26))}`
    const exchange = exchanges[index % exchanges.length] ?? "Nasdaq"
    return {
      title: `${symbol} Holdings ${headlines[index % headlines.length]}`,
      link: `https://www.globenewswire.com/news-release/2025/12/12/${3_000_000 + index}/0/en/${symbol}.html?utm_source=rss`,
      description: `NEW YORK, Dec. 12, 2025 (GLOBE NEWSWIRE) -- ${symbol} Holdings, Inc. (${exchange}: ${symbol}) today announced news.`,
      pubDate: new Date(options.now - index * 60_000).toUTCString(),
      stocks: [`${exchange}:${symbol}`]
    }
  })

/** A valid RSS document of at least `bytes` bytes, for the response-size cap. */
export const hugeRss = (bytes: number): string => {
  const filler = "x".repeat(1_000)
  const count = Math.ceil(bytes / 1_100)
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>${Array.from(
    { length: count },
    (_, i) => `<item><title>item ${i}</title><description>${filler}</description></item>`
  ).join("")}</channel></rss>`
}

/** Writes `total` bytes of RSS made up as it goes, honouring back-pressure, until done or the client hangs up. */
const streamGenerated = (response: ServerResponse, total: number, sent: (bytes: number) => void) => {
  const item = Buffer.from(`<item><title>filler</title><description>${"x".repeat(65_000)}</description></item>`)
  let written = 0
  const pump = () => {
    while (written < total && !response.destroyed) {
      const chunk = written === 0 ? Buffer.from('<?xml version="1.0"?><rss version="2.0"><channel>') : item
      written += chunk.byteLength
      sent(chunk.byteLength)
      if (!response.write(chunk)) return void response.once("drain", pump)
    }
    if (!response.destroyed) response.end("</channel></rss>")
  }
  pump()
}

/** Slowloris: one byte every `intervalMs`, cycling through `body`, until the client hangs up. */
const dribble = (response: ServerResponse, body: Buffer, intervalMs: number, sent: (bytes: number) => void) => {
  let offset = 0
  const timer = setInterval(() => {
    if (response.destroyed) return clearInterval(timer)
    response.write(body.subarray(offset % body.byteLength, (offset % body.byteLength) + 1))
    offset += 1
    sent(1)
  }, intervalMs)
  response.on("close", () => clearInterval(timer))
}

export const make = (initial: Record<string, WireFeedScript> = {}) =>
  Effect.acquireRelease(
    Effect.async<{
      readonly url: string
      readonly feedUrl: (name: string) => string
      /** Serves `script` from now on; returns that moment (epoch ms, the clock of `requests`): when new items became visible. */
      readonly setFeed: (name: string, script: WireFeedScript) => number
      readonly requests: () => ReadonlyArray<RecordedRequest>
      /** Body bytes written for a feed so far (streamed and dribbled ones included). */
      readonly bytesSent: (name: string) => number
      /** Requests for a feed that have arrived, answered or not (`requests` lists only answered ones). */
      readonly received: (name: string) => number
      /** Requests for a feed whose response is neither finished nor abandoned by the client. */
      readonly inFlight: (name: string) => number
      /** Forgets recorded requests, so a long run (soak, demo) keeps constant memory. */
      readonly clearRecords: () => void
      readonly close: () => Promise<void>
    }>((resume) => {
      const feeds = new Map(Object.entries(initial))
      const failuresServed = new Map<string, number>()
      const sent = new Map<string, number>()
      const count = (name: string, bytes: number) => sent.set(name, (sent.get(name) ?? 0) + bytes)
      const arrived = new Map<string, number>()
      const open = new Map<string, number>()
      const bump = (counts: Map<string, number>, name: string, by: number) =>
        counts.set(name, (counts.get(name) ?? 0) + by)
      let requests: Array<RecordedRequest> = []
      const server = createServer((request, response) => {
        const at = performance.timeOrigin + performance.now()
        const path = new URL(request.url ?? "/", "http://localhost").pathname
        const name = decodeURIComponent(path.replace(/^\/feeds\//, ""))
        const script = path.startsWith("/feeds/") ? feeds.get(name) : undefined
        bump(arrived, name, 1)
        bump(open, name, 1)
        response.once("close", () => bump(open, name, -1))
        const respond = (status: number, headers: Record<string, string>, body: string | Uint8Array) => {
          requests.push({ path, at, headers: request.headers, status })
          response.writeHead(status, { ...headers, "Content-Length": String(Buffer.byteLength(body)) })
          response.end(body)
        }
        const answer = () => {
          if (script === undefined) return respond(404, { "Content-Type": "text/html" }, "<h1>Not Found</h1>")
          const failed = failuresServed.get(name) ?? 0
          if (script.failTimes !== undefined && failed < script.failTimes) {
            failuresServed.set(name, failed + 1)
            return respond(500, { "Content-Type": "text/html" }, "<h1>Internal Server Error</h1>")
          }
          if (script.status !== undefined) {
            return respond(script.status, { "Content-Type": "text/html" }, `<h1>HTTP ${script.status}</h1>`)
          }
          const validators: Record<string, string> = {}
          if (script.etag !== undefined) validators["ETag"] = script.etag
          if (script.lastModified !== undefined) validators["Last-Modified"] = script.lastModified
          // RFC 9110 §13.2.2: If-None-Match, when sent, decides alone; If-Modified-Since only without it.
          const ifNoneMatch = request.headers["if-none-match"]
          const notModified =
            ifNoneMatch !== undefined
              ? script.etag !== undefined && ifNoneMatch === script.etag
              : script.lastModified !== undefined && request.headers["if-modified-since"] === script.lastModified
          if (notModified) return respond(304, validators, "")
          const headers = { "Content-Type": script.contentType ?? "application/rss+xml; charset=utf-8", ...validators }
          if (script.streamBytes !== undefined) {
            requests.push({ path, at, headers: request.headers, status: 200 })
            response.writeHead(200, headers)
            return streamGenerated(response, script.streamBytes, (bytes) => count(name, bytes))
          }
          if (script.dribbleMs !== undefined) {
            requests.push({ path, at, headers: request.headers, status: 200 })
            response.writeHead(200, headers)
            return dribble(response, Buffer.from(script.body), script.dribbleMs, (bytes) => count(name, bytes))
          }
          if (!script.chunked) {
            count(name, Buffer.byteLength(script.body))
            return respond(200, headers, script.body)
          }
          requests.push({ path, at, headers: request.headers, status: 200 })
          response.writeHead(200, headers)
          const body = Buffer.from(script.body)
          for (let offset = 0; offset < body.byteLength && !response.destroyed; offset += 16_384) {
            response.write(body.subarray(offset, offset + 16_384))
            count(name, Math.min(16_384, body.byteLength - offset))
          }
          response.end()
        }
        const latency = script?.latencyMs ?? 0
        if (script?.hang === true) return
        if (latency > 0) setTimeout(answer, latency)
        else answer()
      })
      server.listen(0, "127.0.0.1", () => {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
        resume(
          Effect.succeed({
            url,
            feedUrl: (name: string) => `${url}/feeds/${encodeURIComponent(name)}`,
            setFeed: (name: string, script: WireFeedScript) => {
              feeds.set(name, script)
              failuresServed.delete(name)
              return performance.timeOrigin + performance.now()
            },
            requests: () => requests.slice(),
            bytesSent: (name: string) => sent.get(name) ?? 0,
            received: (name: string) => arrived.get(name) ?? 0,
            inFlight: (name: string) => open.get(name) ?? 0,
            clearRecords: () => {
              requests = []
              arrived.clear()
            },
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections()
                server.close(() => done())
              })
          })
        )
      })
    }),
    (wire) => Effect.promise(wire.close)
  )
