// Submission rate of single POST /v1/commands: 8 concurrent clients, each one request at a time, for ~5 s,
// against an api-only system (no worker). Prints submissions/s, transactions and statements per POST.
//   npx node test/bench/single-post.ts [--clients 8] [--seconds 5]
// Uses DATABASE_URL when set (a scratch database: it writes there), else a throwaway embedded PostgreSQL.
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/config.ts';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/log.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { startSystem } from '../../src/system.ts';
import { watchQueries } from '../helpers/queries.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '8' }, seconds: { type: 'string', default: '5' } } });
const clients = Number(values.clients);
const seconds = Number(values.seconds);

let statements = 0;
watchQueries(() => statements++);

let stopPg = async () => {};
let url = process.env['DATABASE_URL'];
if (!url) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oncely-bench-'));
  await chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), persistent: false });
  url = server.url;
  stopPg = async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
const config = { ...parseConfig({ LOG_LEVEL: 'warn' }), DATABASE_URL: url };
const system = await startSystem({ config, roles: { api: true, worker: false }, log: createLogger('warn', 'bench'), domains: referenceDomains });
const app = system.app!;
const run = `p${Date.now().toString(36)}`;

const commits = async () => (await system.pool.query<{ n: string }>(`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = current_database()`)).rows[0]!.n;

async function client(c: number, until: number, statuses: Map<number, number>): Promise<number> {
  let n = 0;
  while (performance.now() < until) {
    const res = await app.request('/v1/commands', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: `${run}-${c}-${n}`, type: 'account.credit', entityId: `${run}-acc-${n % 50}`, payload: { amount: 1 + (n % 100) } }),
    });
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    n++;
  }
  return n;
}

// Warm up (connections, caches), then measure.
await Promise.all(Array.from({ length: clients }, (_, c) => client(c + 1000, performance.now() + 1000, new Map())));
await new Promise((r) => setTimeout(r, 500));
const before = Number(await commits());
const statuses = new Map<number, number>();
const statementsBefore = statements;
const started = performance.now();
const counts = await Promise.all(Array.from({ length: clients }, (_, c) => client(c, started + seconds * 1000, statuses)));
const elapsed = performance.now() - started;
const statementsDuring = statements - statementsBefore;
await new Promise((r) => setTimeout(r, 700)); // pg_stat_database is updated by backends on a short delay
const after = Number(await commits());
const total = counts.reduce((a, b) => a + b, 0);
console.log(`clients ${clients}, ${(elapsed / 1000).toFixed(1)} s: ${total} single POSTs, ${((total / elapsed) * 1000).toFixed(0)} submissions/s`);
console.log(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
console.log(
  `statements sent per POST: ${(statementsDuring / total).toFixed(2)}; commits per POST (whole database, incl. the stats reads): ${((after - before) / total).toFixed(3)}`,
);
await system.stop();
await stopPg();
