import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Clock, Data, Deferred, Effect, Exit, FiberId, Metric, Option, Schema } from "effect"
import { AppConfig } from "../Kernel/AppConfig.js"
import { LlmAnalysis, type SecFiling } from "../Kernel/Domain.js"
import { SqlLive } from "../Kernel/Sql.js"

export const secLlmCacheHits = Metric.counter("sec_llm_cache_hits_total", {
  description: "SEC LLM analyses served from the cache"
})
export const secLlmCacheMisses = Metric.counter("sec_llm_cache_misses_total", {
  description: "SEC LLM analyses that needed an LLM call"
})

/** Why the LLM couldn't analyse an item; the item then goes on with its keyword result. */
export class LlmUnavailable extends Data.TaggedError("LlmUnavailable")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const decodeAnalysis = Schema.decodeUnknown(Schema.parseJson(LlmAnalysis))

/** "8-K/A" amends an "8-K": the original's analysis is stale once the amendment is filed. */
export const amendedForm = (formType: string): Option.Option<string> =>
  /\/A$/i.test(formType.trim()) ? Option.some(formType.trim().slice(0, -2)) : Option.none()

/**
 * LLM analyses of SEC filings, keyed by accession + form type + prompt version, in SQLite so they
 * survive restarts, with an expiry (SEC_LLM_CACHE_TTL_HOURS) and a hit count. Concurrent requests
 * for one key share one LLM call; a failed call is not cached, so the next cycle tries again.
 */
export class SecLlmCache extends Effect.Service<SecLlmCache>()("Classification/SecLlmCache", {
  effect: Effect.gen(function* () {
    const { classify: settings } = yield* AppConfig
    const sql = yield* SqlClient.SqlClient
    const ttlMillis = Math.round(settings.secLlmCacheTtlHours * 3_600_000)
    const inFlight = new Map<string, Deferred.Deferred<LlmAnalysis, LlmUnavailable>>()

    const read = (filing: SecFiling, promptVersion: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const [row] = yield* sql<{ analysis: string }>`
          SELECT analysis FROM sec_llm_cache
          WHERE accession = ${filing.accession} AND form_type = ${filing.formType}
            AND prompt_version = ${promptVersion} AND expires_at > ${now}`
        if (row === undefined) return Option.none<LlmAnalysis>()
        const analysis = yield* decodeAnalysis(row.analysis)
        yield* sql`
          UPDATE sec_llm_cache SET hit_count = hit_count + 1
          WHERE accession = ${filing.accession} AND form_type = ${filing.formType} AND prompt_version = ${promptVersion}`
        return Option.some(analysis)
      }).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`SEC LLM cache read failed for ${filing.accession}, treating it as a miss`, error).pipe(
            Effect.as(Option.none<LlmAnalysis>())
          )
        )
      )

    const write = (filing: SecFiling, promptVersion: string, analysis: LlmAnalysis) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* sql`DELETE FROM sec_llm_cache WHERE expires_at <= ${now}`
        yield* sql`
          INSERT INTO sec_llm_cache (accession, form_type, prompt_version, cik, analysis, created_at, expires_at, hit_count)
          VALUES (${filing.accession}, ${filing.formType}, ${promptVersion}, ${filing.cik},
                  ${JSON.stringify(analysis)}, ${now}, ${now + ttlMillis}, 0)
          ON CONFLICT (accession, form_type, prompt_version) DO UPDATE SET
            analysis = excluded.analysis, created_at = excluded.created_at,
            expires_at = excluded.expires_at, hit_count = 0`
      }).pipe(
        Effect.catchAll((error) => Effect.logWarning(`SEC LLM cache write failed for ${filing.accession}`, error))
      )

    /**
     * An amendment can't name which original it amends without reading it, so it invalidates
     * the filer's cached analyses of the amended form: at worst one extra LLM call later.
     */
    const invalidateAmended = (filing: SecFiling) =>
      Option.match(amendedForm(filing.formType), {
        onNone: () => Effect.void,
        onSome: (original) =>
          sql`DELETE FROM sec_llm_cache WHERE cik = ${filing.cik} AND form_type = ${original}`.pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(`SEC LLM cache invalidation failed for ${filing.accession}`, error)
            )
          )
      })

    const lookupOrCompute = (
      filing: SecFiling,
      promptVersion: string,
      compute: Effect.Effect<LlmAnalysis, LlmUnavailable>,
      key: string,
      leader: Deferred.Deferred<LlmAnalysis, LlmUnavailable>
    ) =>
      Effect.gen(function* () {
        yield* invalidateAmended(filing)
        const cached = yield* read(filing, promptVersion)
        if (Option.isSome(cached)) {
          yield* Metric.increment(secLlmCacheHits)
          return { analysis: cached.value, cached: true }
        }
        yield* Metric.increment(secLlmCacheMisses)
        const analysis = yield* compute
        yield* write(filing, promptVersion, analysis)
        return { analysis, cached: false }
      }).pipe(
        Effect.onExit((exit) =>
          Effect.zipRight(
            Effect.sync(() => inFlight.delete(key)),
            Exit.isSuccess(exit)
              ? Deferred.succeed(leader, exit.value.analysis)
              : Deferred.fail(
                  leader,
                  Option.getOrElse(
                    Cause.failureOption(exit.cause),
                    () => new LlmUnavailable({ reason: "the shared LLM call for this filing was interrupted" })
                  )
                )
          )
        )
      )

    const getOrCompute = Effect.fn("SecLlmCache.getOrCompute")(function* (
      filing: SecFiling,
      promptVersion: string,
      compute: Effect.Effect<LlmAnalysis, LlmUnavailable>
    ) {
      const key = `${filing.accession}\u0000${filing.formType}\u0000${promptVersion}`
      // Check and claim in one synchronous step, so no other fiber can slip in between.
      const claim = yield* Effect.sync(() => {
        const running = inFlight.get(key)
        if (running !== undefined) return { leader: false, deferred: running } as const
        const deferred = Deferred.unsafeMake<LlmAnalysis, LlmUnavailable>(FiberId.none)
        inFlight.set(key, deferred)
        return { leader: true, deferred } as const
      })
      if (!claim.leader) {
        const analysis = yield* Deferred.await(claim.deferred)
        return { analysis, cached: true }
      }
      return yield* lookupOrCompute(filing, promptVersion, compute, key, claim.deferred)
    })

    return { getOrCompute } as const
  }),
  dependencies: [AppConfig.Default, SqlLive]
}) {}
