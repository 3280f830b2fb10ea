import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  // oncely's own tables and every domain's (a domain is one folder: src/domains/<name>/table.ts).
  schema: ['./src/db/schema.ts', './src/domains/*/table.ts'],
  out: './migrations',
  dbCredentials: { url: process.env['DATABASE_URL'] ?? 'postgres://localhost/oncely' },
});
