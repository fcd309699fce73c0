import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { withoutRowid } from "./dialect.js"

export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE sec_llm_cache (
    accession TEXT NOT NULL,
    form_type TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    cik TEXT NOT NULL,
    analysis TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    hit_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (accession, form_type, prompt_version)
  )${withoutRowid(sql)}`
  yield* sql`CREATE INDEX sec_llm_cache_expires_at ON sec_llm_cache (expires_at)`
  yield* sql`CREATE INDEX sec_llm_cache_cik_form ON sec_llm_cache (cik, form_type)`
  yield* sql`CREATE TABLE llm_usage_daily (
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    calls INTEGER NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, model)
  )${withoutRowid(sql)}`
})
