// Where oncely's own tables live: one PostgreSQL schema of their own (`oncely` by default, ONCELY_SCHEMA or
// createOncely's `schema` to name another), as pg-boss keeps its tables in `pgboss`. The name is checked by
// src/core/schema-name.ts, and every statement splices it in quoted through `qualified`.
import { DEFAULT_SCHEMA, schemaNameProblem } from '../core/schema-name.ts';

export { DEFAULT_SCHEMA, schemaNameProblem };

/**
 * Throws unless `name` is a schema oncely may own (see schemaNameProblem).
 *
 * @example
 * const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
 */
export function checkSchemaName(name: string): string {
  const problem = schemaNameProblem(name);
  if (problem) throw new Error(`oncely schema ${problem}`);
  return name;
}

/**
 * `"schema"."table"`: the one place a table of oncely's is named in SQL text. The schema name is checked
 * (a plain identifier), so quoting it is all the escaping it needs.
 *
 * @example
 * qualified('oncely', 'commands'); // '"oncely"."commands"'
 */
export function qualified(schema: string, table: string): string {
  return `"${checkSchemaName(schema)}"."${table}"`;
}

/**
 * The advisory-lock key of one oncely's `base` lock (its retention purge, its reconcile sweep): `base` itself
 * for the default schema, as before; for another schema `base` mixed with a hash of its name, so two oncelys
 * in one database never wait for each other's sweeps.
 *
 * @example
 * await client.query('SELECT pg_try_advisory_xact_lock($1::bigint)', [lockKey(RECONCILE_LOCK_KEY, schema).toString()]);
 */
export function lockKey(base: bigint, schema: string): bigint {
  if (schema === DEFAULT_SCHEMA) return base;
  let hash = 0x811c9dc5;
  for (const char of checkSchemaName(schema)) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return BigInt.asIntN(64, base ^ (BigInt(hash) << 24n));
}

/**
 * Caches what `build` makes of each schema name: statement texts are built once per schema per process.
 *
 * @example
 * const statements = perSchema((schema) => ({ count: `SELECT count(*) FROM ${qualified(schema, 'commands')}` }));
 * statements('oncely').count;
 */
export function perSchema<T>(build: (schema: string) => T): (schema: string) => T {
  const built = new Map<string, T>();
  return (schema) => {
    let value = built.get(schema);
    if (value === undefined) built.set(schema, (value = build(checkSchemaName(schema))));
    return value;
  };
}
