import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect } from "effect"
import { cli, reportFailure } from "./Cli.js"
import { DotEnvLive, LoggingLive } from "./Layers.js"
import { ScrubbedLogging } from "../Kernel/Secrets.js"

cli(process.argv).pipe(
  Effect.provide(ScrubbedLogging),
  Effect.provide(LoggingLive),
  Effect.provide(NodeContext.layer),
  Effect.tapErrorCause(reportFailure),
  Effect.provide(DotEnvLive),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
