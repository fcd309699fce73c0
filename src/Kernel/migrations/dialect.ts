import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * The few places where SQLite and PostgreSQL DDL can't share one spelling. Everything else in the
 * migrations is written once: BIGINT and DOUBLE PRECISION get SQLite's INTEGER and REAL affinity
 * (https://www.sqlite.org/datatype3.html#determination_of_column_affinity).
 */

/** SQLite clusters such a table on its primary key (https://www.sqlite.org/withoutrowid.html); PostgreSQL has no such clause. */
export const withoutRowid = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({ sqlite: () => sql.literal(" WITHOUT ROWID"), orElse: () => sql.literal("") })

/**
 * An id the database assigns. `never reused` asks SQLite for AUTOINCREMENT (ids of deleted rows are
 * not handed out again); a PostgreSQL sequence never reuses them anyway.
 */
export const generatedId = (sql: SqlClient.SqlClient, options: { readonly neverReused: boolean }) =>
  sql.onDialectOrElse({
    pg: () => sql.literal("id BIGSERIAL PRIMARY KEY"),
    orElse: () => sql.literal(options.neverReused ? "id INTEGER PRIMARY KEY AUTOINCREMENT" : "id INTEGER PRIMARY KEY")
  })
