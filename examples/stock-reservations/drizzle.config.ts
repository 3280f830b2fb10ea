// `npm run db:generate`: drizzle-kit writes the migration of a change to src/tables.ts into migrations/,
// which src/domain.ts names as the stock domain's own migrations.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/tables.ts',
  out: './migrations',
});
