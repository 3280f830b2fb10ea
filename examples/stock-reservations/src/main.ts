// The shop as a process: `node src/main.ts [all|api|worker|migrate]` (default all), configured by
// DATABASE_URL, PORT (3000) and HOST (127.0.0.1).
import { serve } from '@hono/node-server';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createOncely } from 'oncely';
import pg from 'pg';
import { stockDomain } from './domain.ts';
import { createShop } from './shop.ts';

const role = process.argv[2] ?? 'all';
const databaseUrl = process.env['DATABASE_URL'];
if (!databaseUrl || !['all', 'api', 'worker', 'migrate'].includes(role)) {
  process.stderr.write('usage: DATABASE_URL=postgres://... node src/main.ts [all|api|worker|migrate]\n');
  process.exit(2);
}

const oncely = createOncely({ databaseUrl, domains: [stockDomain] });
if (role === 'migrate' || role === 'all') {
  // oncely's tables (schema oncely) and the domain's own migrations (stockDomain.migrations).
  await oncely.migrate();
  if (role === 'migrate') process.exit(0);
}
await oncely.start({ api: role !== 'worker', worker: role !== 'api' });

const pool = new pg.Pool({ connectionString: databaseUrl });
const server =
  role === 'worker'
    ? undefined
    : serve({ fetch: createShop({ db: drizzle(pool), oncely }).fetch, port: Number(process.env['PORT'] ?? 3000), hostname: process.env['HOST'] ?? '127.0.0.1' });

const stop = async () => {
  server?.close();
  await oncely.stop();
  await pool.end();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
