import { defineConfig } from 'drizzle-kit';

// oncely's own tables (schema `oncely`): `npm run db:generate` writes migrations/engine/. The schema name in
// them is substituted with ONCELY_SCHEMA when they are applied (src/db/migrate.ts). Each domain keeps its
// own migrations: a reference domain's are drizzle-kit's output over its table.ts, written to
// migrations/reference/<domain>/ by
//   npx drizzle-kit generate --dialect postgresql --schema ./src/domains/<domain>/table.ts --out ./migrations/reference/<domain> --name <what>
// (test/unit/schema-drift.test.ts checks the engine's and each reference domain's against their tables).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations/engine',
  dbCredentials: { url: process.env['DATABASE_URL'] ?? 'postgres://localhost/oncely' },
});
