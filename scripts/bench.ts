// Throughput of the whole path: submit N commands (in batches of 500), then wait until every one has ended.
//   npx node scripts/bench.ts [--commands 5000] [--accounts 50] [--batch-size 20] [--concurrency 4]
// Uses DATABASE_URL when set (a scratch database: it writes there), else a throwaway embedded PostgreSQL.
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { createLogger } from '../src/log.ts';
import { startSystem } from '../src/system.ts';

const { values } = parseArgs({
  options: {
    commands: { type: 'string', default: '5000' },
    accounts: { type: 'string', default: '50' },
    'batch-size': { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '4' },
  },
});
const total = Number(values.commands);
const accounts = Number(values.accounts);

let stopPg = async () => {};
let url = process.env['DATABASE_URL'];
if (!url) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oncely-bench-'));
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false }).catch((err: unknown) => {
    process.stderr.write(`bench: could not start the embedded PostgreSQL: ${(err as Error).message}\n`);
    process.exit(1);
  });
  url = pg.url;
  stopPg = async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
const config = {
  ...parseConfig({ WORKER_BATCH_SIZE: values['batch-size'], WORKER_CONCURRENCY: values.concurrency, LOG_LEVEL: 'warn' }),
  DATABASE_URL: url,
};
const system = await startSystem({ config, roles: { api: true, worker: true }, log: createLogger('warn', 'bench') });
const run = `b${Date.now().toString(36)}`;
const ids = Array.from({ length: accounts }, (_, i) => `${run}-acc-${i}`);
await system.commands.submit('bench', ids.map((id) => ({ id: `open-${id}`, type: 'account.open', entityId: id, expectedVersion: undefined, payload: {} })));

async function pending(): Promise<number> {
  const { rows } = await system.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM commands WHERE client_id = 'bench' AND status IN ('queued', 'retrying')`);
  return rows[0]?.n ?? 0;
}
for (let i = 0; i < 600 && (await pending()) > 0; i++) await new Promise((r) => setTimeout(r, 100));

const started = performance.now();
for (let i = 0; i < total; i += 500) {
  const chunk = Array.from({ length: Math.min(500, total - i) }, (_, j) => ({
    id: `${run}-credit-${i + j}`,
    type: 'account.credit',
    entityId: ids[(i + j) % accounts]!,
    expectedVersion: undefined,
    payload: { amount: 1 + ((i + j) % 100) },
  }));
  await system.commands.submit('bench', chunk);
}
const submitted = performance.now();
for (let i = 0; i < 6000 && (await pending()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
const done = performance.now();
const { rows } = await system.pool.query(`SELECT status, count(*)::int AS n, max(attempts) AS max_attempts FROM commands WHERE client_id = 'bench' AND id LIKE $1 GROUP BY status`, [`${run}-credit-%`]);
console.log(`commands: ${total} credits over ${accounts} accounts; batch size ${values['batch-size']}, concurrency ${values.concurrency}`);
console.log(`submit: ${(submitted - started).toFixed(0)} ms (${((total / (submitted - started)) * 1000).toFixed(0)} commands/s)`);
console.log(`submit to all applied: ${(done - started).toFixed(0)} ms (${((total / (done - started)) * 1000).toFixed(0)} commands/s end to end)`);
console.log(`outcomes: ${JSON.stringify(rows)}`);
await system.stop();
await stopPg();
