import { expectPositionals, type CliCommand } from '../usage.ts';

/** `oncely migrate`: applies the schema, as `npm run migrate` does. */
export const migrateCommand: CliCommand<Record<string, never>> = {
  name: 'migrate',
  summary: 'apply the schema (idempotent)',
  help: `usage: oncely migrate [--json]

Creates oncely's schema (ONCELY_SCHEMA, default oncely) and applies oncely's own migrations there, one
process at a time (an advisory lock); does nothing when they are already applied. A database made by oncely
0.1 (its tables in public) is upgraded in place. Your domains' migrations are applied by oncely.migrate()
(defineDomain's migrations); npm run migrate also applies the reference domains'.

  --json  { "schema": "current" } on stdout

example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/oncely oncely migrate`,
  options: {},
  parse({ positionals }) {
    expectPositionals('migrate', positionals, 0);
    return {};
  },
  async run(context) {
    const { runMigrations } = await import('../../db/migrate.ts');
    // The migration lock is a session lock: the direct connection, never a transaction pooler.
    await runMigrations(context.directUrl, { schema: context.config.ONCELY_SCHEMA });
    context.report({ schema: 'current' }, () => 'schema is current');
  },
};
