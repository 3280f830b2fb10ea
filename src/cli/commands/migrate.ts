import { expectPositionals, type CliCommand } from '../usage.ts';

/** `oncely migrate`: applies the schema, as `npm run migrate` does. */
export const migrateCommand: CliCommand<Record<string, never>> = {
  name: 'migrate',
  summary: 'apply the schema (idempotent)',
  help: `usage: oncely migrate [--json]

Applies oncely's SQL migrations to the database, one process at a time (an advisory lock), and does
nothing when the schema is already current. The same as npm run migrate.

  --json  { "schema": "current" } on stdout

example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/oncely oncely migrate`,
  options: {},
  parse({ positionals }) {
    expectPositionals('migrate', positionals, 0);
    return {};
  },
  async run(context) {
    const { runMigrations } = await import('../../db/migrate.ts');
    await runMigrations(context.config.DATABASE_URL);
    context.report({ schema: 'current' }, () => 'schema is current');
  },
};
