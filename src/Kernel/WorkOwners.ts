import * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import { Clock, Effect, Metric, Option, Ref } from "effect"
import { AdminChannel } from "./AdminChannel.js"
import { AppConfig } from "./AppConfig.js"
import { SqlLive } from "./Sql.js"

/** A poller (`poller:<source>`) or a route's delivery (`route:<name>`), held by one runner at a time. */
export interface WorkOwner {
  readonly work: string
  readonly owner: string
  /** Moves on at every takeover: a claim made under an older epoch is refused. */
  readonly epoch: number
  readonly since: number
  readonly previousOwner: string | null
}

export interface ClusterRunner {
  readonly address: string
  readonly healthy: boolean
  readonly heartbeatAgeSeconds: number
}

export interface Takeover {
  readonly work: string
  readonly from: string
  readonly to: string
  readonly at: number
}

export interface ClusterView {
  readonly runner: string
  readonly runners: ReadonlyArray<ClusterRunner>
  readonly owners: ReadonlyArray<WorkOwner>
  /** The last takeover this runner made from another runner, since it started. */
  readonly lastFailover: Takeover | null
}

export const workOwned = Metric.gauge("cluster_work_owned", {
  description: "1 for each poller and route this runner holds in cluster mode, 0 once it let go"
})
export const ownershipMoves = Metric.counter("cluster_ownership_moves_total", {
  description: "Pollers and routes this runner took over from another runner"
})
export const lastFailoverAt = Metric.gauge("cluster_last_failover_timestamp_seconds", {
  description: "When this runner last took a poller or route over from another runner (epoch seconds)"
})
export const clusterRunners = Metric.gauge("cluster_runners", {
  description: "Runners with a fresh heartbeat in the cluster's runner table, by health"
})

export const pollerWork = (source: string) => `poller:${source}`
export const routeWork = (route: string) => `route:${route}`
const routePrefix = "route:"

/**
 * Who holds which poller and route in cluster mode. Ownership itself comes from @effect/cluster (each
 * is a singleton); this register adds the fencing epoch and the view for /health, /metrics and the
 * admin channel. Without CLUSTER nothing is taken and `heldRoutes` is none: one process owns it all.
 */
export class WorkOwners extends Effect.Service<WorkOwners>()("Kernel/WorkOwners", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const admin = yield* AdminChannel
    const { cluster } = yield* AppConfig
    const runner = `${cluster.runnerHost}:${cluster.runnerPort}`
    const held = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
    const lastFailover = yield* Ref.make<Takeover | null>(null)

    /** This runner now holds `work`: its epoch moves on, and a move from another runner is told. */
    const take = Effect.fn("WorkOwners.take")(function* (work: string) {
      const now = yield* Clock.currentTimeMillis
      const [row] = yield* sql<{ epoch: number; previous_owner: string | null }>`
        INSERT INTO work_owners (work, owner, epoch, since, previous_owner)
        VALUES (${work}, ${runner}, 1, ${now}, NULL)
        ON CONFLICT (work) DO UPDATE SET owner = excluded.owner, epoch = work_owners.epoch + 1,
          since = excluded.since, previous_owner = work_owners.owner
        RETURNING epoch, previous_owner`
      const epoch = Number(row!.epoch)
      yield* Ref.update(held, (map) => new Map(map).set(work, epoch))
      yield* Metric.set(Metric.tagged(workOwned, "work", work), 1)
      const from = row!.previous_owner
      if (from !== null && from !== runner) {
        yield* Ref.set(lastFailover, { work, from, to: runner, at: now })
        yield* Metric.increment(ownershipMoves)
        yield* Metric.set(lastFailoverAt, now / 1000)
        yield* admin.notify({
          key: `owner:${work}`,
          title: `${work} moved to runner ${runner}`,
          detail: `It was held by runner ${from}, which stopped, lost its lease or handed it over.`
        })
      }
      yield* Effect.logInfo(`runner ${runner} holds ${work} (epoch ${epoch})`)
      return epoch
    }, Effect.orDie)

    /** This runner let go of `work` (shutdown, rebalance, lost lease); the next holder moves the epoch on. */
    const release = Effect.fn("WorkOwners.release")(function* (work: string) {
      yield* Ref.update(held, (map) => {
        const next = new Map(map)
        next.delete(work)
        return next
      })
      yield* Metric.set(Metric.tagged(workOwned, "work", work), 0)
      yield* Effect.logInfo(`runner ${runner} let go of ${work}`)
    })

    /** The routes this runner may deliver, each with its epoch; none outside cluster mode (every route). */
    const heldRoutes = cluster.enabled
      ? Effect.map(Ref.get(held), (map): Option.Option<ReadonlyMap<string, number>> =>
          Option.some(
            new Map(
              [...map]
                .filter(([work]) => work.startsWith(routePrefix))
                .map(([work, epoch]) => [work.slice(routePrefix.length), epoch])
            )
          )
        )
      : Effect.succeed(Option.none<ReadonlyMap<string, number>>())

    /**
     * A condition for a claim's UPDATE: this runner still holds `work` at `epoch`. A runner that was
     * paused past its lease finds the epoch moved on and claims nothing.
     */
    const stillHolds = (work: string, epoch: number): Fragment =>
      sql`EXISTS (SELECT 1 FROM work_owners WHERE work = ${work} AND owner = ${runner} AND epoch = ${epoch})`

    /** Runners whose heartbeat is fresher than the lease (cluster mode only; empty otherwise). */
    const liveRunners = Effect.gen(function* () {
      if (!cluster.enabled) return new Set<string>() as ReadonlySet<string>
      const rows = yield* sql<{ address: string }>`
        SELECT address FROM cluster_runners
        WHERE last_heartbeat > NOW() - make_interval(secs => ${cluster.leaseSeconds})`
      return new Set(rows.map((row) => row.address)) as ReadonlySet<string>
    }).pipe(Effect.orDie, Effect.withSpan("WorkOwners.liveRunners"))

    /** Every holder on record, and the runners @effect/cluster counts (its own table, read only here). */
    const view = Effect.fn("WorkOwners.view")(function* () {
      const owners = yield* sql<{
        work: string
        owner: string
        epoch: number
        since: number
        previous_owner: string | null
      }>`SELECT work, owner, epoch, since, previous_owner FROM work_owners ORDER BY work`
      const runners = cluster.enabled
        ? yield* sql<{ address: string; healthy: boolean; age: number }>`
            SELECT address, healthy, EXTRACT(EPOCH FROM (NOW() - last_heartbeat)) AS age
            FROM cluster_runners ORDER BY address`
        : []
      const fresh = runners.filter((row) => Number(row.age) <= cluster.leaseSeconds)
      yield* Metric.set(Metric.tagged(clusterRunners, "healthy", "true"), fresh.filter((r) => r.healthy).length)
      yield* Metric.set(Metric.tagged(clusterRunners, "healthy", "false"), fresh.filter((r) => !r.healthy).length)
      return {
        runner,
        runners: fresh.map((row): ClusterRunner => ({
          address: row.address,
          healthy: Boolean(row.healthy),
          heartbeatAgeSeconds: Math.round(Number(row.age) * 10) / 10
        })),
        owners: owners.map((row): WorkOwner => ({
          work: row.work,
          owner: row.owner,
          epoch: Number(row.epoch),
          since: Number(row.since),
          previousOwner: row.previous_owner
        })),
        lastFailover: yield* Ref.get(lastFailover)
      } satisfies ClusterView
    }, Effect.orDie)

    return { runner, clustered: cluster.enabled, take, release, heldRoutes, stillHolds, liveRunners, view } as const
  }),
  dependencies: [SqlLive, AdminChannel.Default, AppConfig.Default]
}) {
  /** One process holding everything, as without CLUSTER: for callers that run delivery on its own. */
  static readonly single: Pick<
    WorkOwners,
    "runner" | "clustered" | "take" | "release" | "heldRoutes" | "stillHolds" | "liveRunners"
  > = {
    runner: "local",
    clustered: false,
    take: () => Effect.succeed(0),
    release: () => Effect.void,
    heldRoutes: Effect.succeed(Option.none()),
    stillHolds: () => {
      throw new Error("WorkOwners.single holds every route: nothing is fenced")
    },
    liveRunners: Effect.succeed(new Set())
  }
}
