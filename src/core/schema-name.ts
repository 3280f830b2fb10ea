// The name of the schema oncely's own tables live in (`oncely` by default): checked once, here, wherever it
// comes from (ONCELY_SCHEMA, createOncely's `schema`, runMigrations). Pure, so config and db both use it.

/** The schema oncely's tables live in unless ONCELY_SCHEMA (or createOncely's `schema`) names another. */
export const DEFAULT_SCHEMA = 'oncely';

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Schemas that are someone else's: the application's default one and pg-boss's. */
const TAKEN = new Set(['public', 'pgboss']);

/**
 * Why `name` cannot hold oncely's tables, or undefined when it can: a plain lower-case identifier of at most
 * 63 characters that is neither `public` nor `pgboss`, and not one of PostgreSQL's own (`pg_*`).
 *
 * @example
 * schemaNameProblem('oncely'); // undefined
 * schemaNameProblem('public'); // 'must not be public ...'
 */
export function schemaNameProblem(name: string): string | undefined {
  if (!SCHEMA_NAME.test(name))
    return `must be a plain identifier (lower-case letters, digits and _, at most 63, not starting with a digit): ${JSON.stringify(name.slice(0, 80))}`;
  if (TAKEN.has(name) || name.startsWith('pg_')) return `must not be ${name}: oncely's tables need a schema of their own (the default is ${DEFAULT_SCHEMA})`;
  return undefined;
}
