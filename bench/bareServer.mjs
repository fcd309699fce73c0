/**
 * bench:memory's baseline: a bare Effect HTTP server (one route) on @effect/platform-node, run with plain
 * `node` as the bot is (`node dist/main.js`). Prints `listening <port>` once it accepts connections, and
 * stops when its stdin closes.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import process from "node:process"

const Listening = Layer.effectDiscard(
  Effect.flatMap(HttpServer.addressWith(Effect.succeed), (address) =>
    Effect.sync(() =>
      process.stdout.write(`listening ${address._tag === "TcpAddress" ? address.port : address.path}\n`)
    )
  )
)

const App = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", HttpServerResponse.text("ok")),
  HttpServer.serve(),
  Layer.merge(Listening),
  Layer.provide(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

process.stdin.on("end", () => process.exit(0)).resume()
NodeRuntime.runMain(Layer.launch(App))
