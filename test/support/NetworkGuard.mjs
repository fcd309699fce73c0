// Plain JavaScript, so that a spawned bot and its worker threads can preload it without tsx.
import dns from "node:dns"
import { syncBuiltinESMExports } from "node:module"
import net from "node:net"

/**
 * Tests may talk only to servers they start on loopback. This guard patches the Node APIs every
 * outgoing connection goes through (net.Socket#connect, which net.connect, tls.connect, node:http and
 * undici all end in; and the dns lookups and resolves) so that anything else throws before a packet
 * leaves. It runs in the vitest workers (NetworkGuardSetup.ts) and in every bot a test spawns
 * (NetworkGuardPreload.mjs, through test/support/Cli.ts).
 */

export class NetworkGuardError extends Error {
  name = "NetworkGuardError"
  code = "ERR_NETWORK_GUARD"

  /** @param {string} target */
  constructor(target) {
    super(`network guard: blocked ${target}; tests may reach only loopback (127.0.0.0/8, ::1, localhost)`)
    this.target = target
  }
}

/** @param {string | undefined | null} host */
export const isLoopback = (host) => {
  // Node connects to localhost when no host is given.
  if (host === undefined || host === null || host === "") return true
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase()
  if (bare === "localhost") return true
  if (net.isIPv4(bare)) return bare.startsWith("127.")
  if (net.isIPv6(bare)) {
    if (bare === "::1" || bare === "0:0:0:0:0:0:0:1") return true
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)
    return mapped !== null && mapped[1].startsWith("127.")
  }
  return false
}

/**
 * The destination of a Socket#connect call, in any of its documented argument shapes.
 * @param {ReadonlyArray<unknown>} args
 * @returns {{ host?: string, port?: unknown, path?: string }}
 */
const connectOptions = (args) => {
  const [first, second] = args
  // net.connect() and tls.connect() pass net's own normalised [options, callback] array.
  if (Array.isArray(first)) return first[0] ?? {}
  if (typeof first === "object" && first !== null) return first
  if (typeof first === "string" && !/^\d+$/.test(first)) return { path: first }
  return typeof second === "string" ? { port: first, host: second } : { port: first }
}

const resolutions = [
  "lookup",
  "lookupService",
  "resolve",
  "resolve4",
  "resolve6",
  "resolveAny",
  "resolveCaa",
  "resolveCname",
  "resolveMx",
  "resolveNaptr",
  "resolveNs",
  "resolvePtr",
  "resolveSoa",
  "resolveSrv",
  "resolveTxt",
  "reverse"
]

const installedKey = Symbol.for("catalyst-bot/network-guard/installed")

/**
 * Installs the guard, once per JavaScript realm; `onAttempt` hears of every connection and
 * resolution, allowed or not, before a blocked one throws.
 * @param {(attempt: { target: string, allowed: boolean }) => void} onAttempt
 */
export const installNetworkGuard = (onAttempt) => {
  if (globalThis[installedKey] === true) return
  globalThis[installedKey] = true

  /** @param {string} target @param {boolean} allowed */
  const check = (target, allowed) => {
    onAttempt({ target, allowed })
    if (!allowed) throw new NetworkGuardError(target)
  }

  const connect = net.Socket.prototype.connect
  net.Socket.prototype.connect = function (...args) {
    const options = connectOptions(args)
    // A unix socket or named pipe never leaves the machine.
    if (options.path === undefined || options.path === "") {
      check(`connect ${options.host ?? "localhost"}:${String(options.port)}`, isLoopback(options.host))
    }
    return connect.apply(this, args)
  }

  for (const surface of [dns, dns.promises, dns.Resolver.prototype, dns.promises.Resolver.prototype]) {
    for (const name of resolutions) {
      const original = surface[name]
      if (typeof original !== "function") continue
      surface[name] = function (host, ...rest) {
        check(`resolve ${String(host)}`, typeof host === "string" && isLoopback(host))
        return original.apply(this, [host, ...rest])
      }
    }
  }
  // `import { lookup } from "node:dns"` bindings see the patched functions too.
  syncBuiltinESMExports()
}
