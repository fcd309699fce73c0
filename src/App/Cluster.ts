import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as RunnerHealth from "@effect/cluster/RunnerHealth"
import * as Runners from "@effect/cluster/Runners"
import * as ShardingConfig from "@effect/cluster/ShardingConfig"
import * as SocketRunner from "@effect/cluster/SocketRunner"
import * as SqlMessageStorage from "@effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "@effect/cluster/SqlRunnerStorage"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { Cause, Data, Duration, Effect, Layer, Option } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { retryCatalogRace } from "../Kernel/Sql.js"

/** CLUSTER=1 that can't be honoured: no PostgreSQL to coordinate through, or the runner port taken. */
export class ClusterUnavailable extends Data.TaggedError("ClusterUnavailable")<{ readonly message: string }> {}

/**
 * Shard locks are lease rows (`shardLockDisableAdvisory`), not PostgreSQL advisory locks: an advisory
 * lock lives as long as its connection, so a runner stopped with SIGSTOP (or hung, with its socket
 * open) would keep its work forever. A lease row lapses CLUSTER_LEASE_SECONDS after the last refresh
 * whatever the connection does; it is refreshed every third of that. Runners re-read the runner table
 * every second, so a dead runner's work moves about one lease after its last refresh.
 * https://github.com/Effect-TS/effect/blob/main/packages/cluster/src/ShardingConfig.ts
 */
const shardingConfig = (cluster: AppConfig["cluster"]): Partial<ShardingConfig.ShardingConfig["Type"]> => {
  const lease = Duration.seconds(cluster.leaseSeconds)
  return {
    runnerAddress: Option.some(RunnerAddress.make(cluster.runnerHost, cluster.runnerPort)),
    runnerListenAddress: Option.none(),
    shardLockDisableAdvisory: true,
    shardLockExpiration: lease,
    shardLockRefreshInterval: Duration.unsafeDivide(lease, 3),
    refreshAssignmentsInterval: Duration.seconds(1),
    entityMessagePollInterval: Duration.seconds(1),
    runnerHealthCheckInterval: Duration.seconds(cluster.leaseSeconds)
  }
}

/**
 * The cluster's message and runner tables on the bot's own PgClient, created at start-up; runners
 * started together race to create them (SqlMessageStorage dies on that, so its defect is tried again too).
 */
export const ClusterStorageLive = Layer.merge(SqlMessageStorage.layer, SqlRunnerStorage.layer).pipe(
  Layer.catchAllCause((cause) => Layer.fail(Cause.squash(cause))),
  retryCatalogRace,
  Layer.orDie
)

/**
 * This process as one runner of the cluster on DATABASE_URL's PostgreSQL: runner and message storage
 * on the bot's own PgClient, the runner's socket server on RUNNER_HOST:RUNNER_PORT.
 */
export const ShardingLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const { cluster, storage } = yield* AppConfig
    if (Option.isNone(storage.databaseUrl))
      return Layer.fail(
        new ClusterUnavailable({
          message: "CLUSTER=1 needs DATABASE_URL=postgres://…: the runners coordinate through PostgreSQL"
        })
      )
    const config = ShardingConfig.layer(shardingConfig(cluster))
    const socketServer = NodeClusterSocket.layerSocketServer.pipe(
      Layer.catchAll((error) =>
        Layer.fail(
          new ClusterUnavailable({
            message: `RUNNER_PORT ${cluster.runnerPort} on RUNNER_HOST ${cluster.runnerHost} can't be listened on: ${String(error.cause ?? error.reason)}`
          })
        )
      )
    )
    const health = RunnerHealth.layerPing.pipe(
      Layer.provide(Runners.layerRpc),
      Layer.provide(NodeClusterSocket.layerClientProtocol)
    )
    return SocketRunner.layer.pipe(
      Layer.provide([socketServer, NodeClusterSocket.layerClientProtocol]),
      Layer.provide(health),
      Layer.provide(ClusterStorageLive),
      Layer.provide(config),
      Layer.provide(RpcSerialization.layerMsgPack)
    )
  })
)
