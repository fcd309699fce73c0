/**
 * bench:memory's baseline: a bare Effect HTTP server (one route) on @effect/platform-node, run as the bot is
 * (`node <the start script's flags>`), importing the modules it uses as the bot does: the package barrels would add
 * ~20 MB of modules neither needs. Prints `listening <port>` once it accepts connections, and stops when its stdin
 * closes.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
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
