import { defineConfig } from 'drizzle-kit';

// oncely's own tables (schema `oncely`): `npm run db:generate` writes migrations/engine/. The schema name in
// them is substituted with ONCELY_SCHEMA when they are applied (src/db/migrate.ts). Each domain keeps its
// own migrations (the reference domains': migrations/reference/<domain>/, see drizzle.reference.config.ts).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations/engine',
  dbCredentials: { url: process.env['DATABASE_URL'] ?? 'postgres://localhost/oncely' },
});
