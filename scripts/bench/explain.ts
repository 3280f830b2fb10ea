// The plans of oncely's hot-path statements over `commands` on a database that holds a long history:
// every one must be an index probe, never a scan that grows with history (docs/performance.md).
//
//   flock /tmp/oncely-heavy.lock npx node scripts/bench/explain.ts [--rows 1000000]
//
// Creates a scratch database (on DATABASE_URL's server, else an embedded PostgreSQL), migrates it, seeds
// `--rows` ended commands like the history scenario, then shows EXPLAIN ANALYZE of each statement as the
// processes run it: a named prepared statement, here forced to its generic plan (the plan PostgreSQL
// settles on after five executions), in a transaction that is rolled back.
import { parseArgs } from 'node:util';
import { escapeLiteral } from 'pg';
import { commandStatements } from '../../src/db/commands-sql.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { migrateSystem } from '../../src/system.ts';
import { observerPool } from './measure.ts';
import { seedHistory } from './oncely.ts';
import { createDatabase, dropDatabase, openServer } from './postgres.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' } } });
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows < 0) {
  process.stderr.write(`explain: --rows must be a whole number, got "${values.rows}"\n`);
  process.exit(2);
}

/** A parameter as a SQL literal (EXECUTE's arguments cannot be bound): strings and arrays of strings, numbers or nulls. */
function literal(value: unknown): string {
  if (Array.isArray(value)) {
    const element = (e: string | number | null) => (e === null ? 'NULL' : `"${String(e).replace(/["\\]/g, '\\$&')}"`);
    return escapeLiteral(`{${value.map(element).join(',')}}`);
  }
  return escapeLiteral(String(value));
}

const server = await openServer(process.env['DATABASE_URL'], (line) => process.stderr.write(`${line}\n`));
const name = `explain_${Date.now().toString(36)}`;
try {
  const url = await createDatabase(server, name);
  await migrateSystem(url, { ONCELY_SCHEMA: 'oncely' }, referenceDomains);
  const pool = observerPool(url);
  await seedHistory(pool, rows, (text) => process.stderr.write(`${text}\n`));
  const text = commandStatements('oncely');
  const record = (id: string) => ({
    client_id: 'anonymous',
    id,
    type: 'account.credit',
    entity_id: `a-${id}`,
    expected_version: null,
    payload: { amount: 1 },
    fingerprint: 'f',
    trace_parent: null,
  });
  // Two new commands and two from the history, as a flush with duplicates would carry.
  const flush = JSON.stringify([record('new-1'), record('new-2'), record('h-5'), record('h-777777')]);
  const keys = [
    ['anonymous', 'anonymous'],
    ['new-1', 'new-2'],
  ];
  const cases: [label: string, text: string, params: unknown[]][] = [
    ['submission: insert the commands, read the ones that exist (insertOrRead)', text.insertOrRead, [flush]],
    ['submission: read rows being committed by another flush (selectOfClients)', text.selectOfClients, keys],
    ["worker: lock the batch's command rows (lockMany)", text.lockMany, keys],
    [
      'worker: record every outcome of the batch (recordOutcomes)',
      text.recordOutcomes,
      [...keys, ['succeeded', 'succeeded'], [1, 1], ['{"balance":1}', '{"balance":1}'], [null, null]],
    ],
    ["http: a client's commands by id (select: GET, Prefer: wait)", text.select, ['anonymous', ['new-1', 'h-5']]],
  ];
  const client = await pool.connect();
  try {
    await client.query(`SET plan_cache_mode = force_generic_plan`);
    await client.query('BEGIN');
    // The new rows exist for the statements after the insert, as in a real flush and batch.
    for (const [i, [label, statement, params]] of cases.entries()) {
      await client.query(`PREPARE s${i} AS ${statement}`);
      const { rows: plan } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE s${i}(${params.map(literal).join(', ')})`,
      );
      process.stdout.write(`-- ${label}\n${plan.map((r) => r['QUERY PLAN']).join('\n')}\n\n`);
    }
    await client.query('ROLLBACK');
  } finally {
    client.release();
    await pool.end();
  }
} finally {
  await dropDatabase(server, name).catch(() => {});
  await server.stop();
}
