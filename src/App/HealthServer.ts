import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import { AppConfig } from "../Kernel/AppConfig.js"
import { Dashboard, dashboardRouter } from "./Dashboard.js"
import { HealthCheck, healthRouter } from "./HealthCheck.js"
import { MetricsExporter } from "./MetricsExporter.js"

/**
 * /health, /metrics and the dashboard on `port`/`host`; port 0 asks the OS for a free port (tests).
 * The dashboard's live streams are ended first on shutdown (the finalizer added last runs first),
 * so the server's close doesn't wait on browsers that keep them open.
 */
export const layerServer = (options: { readonly port: number; readonly host: string }) =>
  Layer.scopedDiscard(Effect.flatMap(Dashboard, (dashboard) => Effect.addFinalizer(() => dashboard.closeStreams))).pipe(
    Layer.provide(
      HttpServer.serve(HttpRouter.concat(healthRouter, dashboardRouter)).pipe(
        HttpMiddleware.withTracerDisabledWhen(() => true),
        HttpServer.withLogAddress,
        Layer.provide(NodeHttpServer.layer(createServer, options))
      )
    )
  )

/**
 * The health server on HEALTH_HOST:HEALTH_PORT (HEALTH_PORT=0: off). A port already in use is
 * logged and the bot runs on without it: polling and alerts matter more than the probe.
 */
export const HealthServerLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { observability } = yield* AppConfig
    if (observability.healthPort === 0) return Layer.empty
    const address = `${observability.healthHost}:${observability.healthPort}`
    return layerServer({ port: observability.healthPort, host: observability.healthHost }).pipe(
      Layer.catchAll((error) =>
        Layer.effectDiscard(
          Effect.logError(`health server can't listen on ${address} (HEALTH_HOST/HEALTH_PORT): ${String(error.cause)}`)
        )
      )
    )
  }).pipe(Effect.annotateLogs("module", "Health"))
).pipe(Layer.provide(Layer.mergeAll(HealthCheck.Default, MetricsExporter.Default, Dashboard.Default)))
