// How retention scales with history (docs/scaling.md, "Retention with a long history"): oncely's batched
// delete of ended commands (src/processor/retention.ts, the statement workers and `oncely purge` run) over a
// `commands` table of --rows ended commands, against dropping the time partitions of an equivalent table
// partitioned by day, in the same run and on the same server.
//
//   flock /tmp/oncely-heavy.lock npx node scripts/retention-bench.ts [--rows 10000000] [--days 10] [--old-days 3]
//        [--load-seconds 10] [--rounds 3] [--sweep-seconds 300] [--producers 8] [--keep]
//
// Against DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/postgres), in a scratch database
// `oncely_retention_bench` it creates and drops. The rows are written by set-based SQL (generate_series):
// `--days` days of ended commands in time order, the oldest `--old-days` of them to be purged: the older
// half by the scan oncely runs today, the younger half in a steady state. Phases, each printed:
//   1-2. a closed-loop submission load (in-process api + worker, `account.open`), --rounds times alone and
//      beside the purge (the real purgeEndedCommands, batches of 1,000), in turns;
//   3. the purge alone (the rest of the older half): rows/s, time per batch, WAL per row;
//   4. the table and its indexes after the purge, then after a VACUUM (its time and WAL are part of the cost);
//   5. steady state: as many young commands as were purged take the freed space at the front of the heap,
//      then the same purge, on the younger half;
//   6. the rest of the younger half through a partial index on completed_at, and what that index costs the load;
//   7. the partitioned table: DETACH + DROP of the partitions before the final cutoff, time, WAL and locks.
// WAL is read from pg_current_wal_lsn(), which counts the whole cluster: on a shared server the figures
// include the neighbours' writes (small next to a delete's).
import { parseArgs } from 'node:util';
import pg from 'pg';
import { referenceDomains } from '../src/domains/index.ts';
import { createLogger } from '../src/log.ts';
import { parseConfig } from '../src/config.ts';
import { withTransaction } from '../src/db/pool.ts';
import { MAX_BATCHES_PER_SWEEP, PURGE_BATCH_SIZE, purgeEndedCommands, RETENTION_LOCK_KEY } from '../src/processor/retention.ts';
import { migrateSystem, startSystem, type System } from '../src/system.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    days: { type: 'string', default: '10' },
    'old-days': { type: 'string', default: '2' },
    'load-seconds': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'sweep-seconds': { type: 'string', default: '120' },
    producers: { type: 'string', default: '8' },
    keep: { type: 'boolean', default: false },
  },
});

function whole(name: keyof typeof values, min: number): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`retention-bench: --${name} must be a whole number >= ${min}, got "${String(values[name])}"\n`);
    process.exit(2);
  }
  return n;
}
const ROWS = whole('rows', 1000);
const DAYS = whole('days', 2);
const OLD_DAYS = whole('old-days', 1);
const LOAD_SECONDS = whole('load-seconds', 1);
const SWEEP_SECONDS = whole('sweep-seconds', 1);
const PRODUCERS = whole('producers', 1);
const ROUNDS = whole('rounds', 1);
if (OLD_DAYS >= DAYS) {
  process.stderr.write('retention-bench: --old-days must be less than --days\n');
  process.exit(2);
}

const ADMIN_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE = 'oncely_retention_bench';
const url = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DATABASE}`;
  return u.toString();
})();

const say = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${fmt(bytes / 1048576, 1)} MB`;
const seconds = (ms: number) => `${fmt(ms / 1000, 2)} s`;

async function admin(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL, application_name: 'oncely-retention-bench' });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

// Ended commands of a realistic shape: 100 clients, uuid-like ids (random order in the primary key), credits,
// transfers and opens over 100,000 entities, mostly succeeded with a result, a few refused or dead with an
// error, a W3C trace parent, spread evenly over `days` days ending an hour ago, inserted in time order.
// `$1` rows, `$2` days. Shared by both tables so they hold the same rows.
const GENERATE = `
  SELECT 'client-' || (g % 100) AS client_id,
         md5(g::text)::uuid::text AS id,
         (ARRAY['account.credit', 'account.credit', 'account.transfer', 'account.open'])[1 + g % 4] AS type,
         'acct-' || (g % 100000) AS entity_id,
         NULL::integer AS expected_version,
         jsonb_build_object('amount', 1 + g % 10000, 'to', 'acct-' || ((g * 7) % 100000)) AS payload,
         md5('f' || g) AS fingerprint,
         s.status,
         1 AS attempts,
         0 AS failures,
         CASE WHEN s.status = 'succeeded' THEN jsonb_build_object('balance', g % 1000000, 'version', 1 + g % 50) END AS result,
         CASE WHEN s.status <> 'succeeded' THEN jsonb_build_object('code', 'insufficient_funds', 'message', 'balance too low') END AS error,
         t.at AS submitted_at,
         t.at + interval '5 ms' AS updated_at,
         t.at + interval '5 ms' AS completed_at,
         '00-' || md5('t' || g) || '-' || left(md5('s' || g), 16) || '-01' AS trace_parent
    FROM generate_series(1, $1::bigint) AS g,
         LATERAL (SELECT now() - interval '1 hour' - $2::int * interval '1 day' + (g::float8 / $1) * $2::int * interval '1 day' AS at) AS t,
         LATERAL (SELECT CASE WHEN g % 100 < 96 THEN 'succeeded' WHEN g % 100 < 99 THEN 'rejected' WHEN g % 200 = 199 THEN 'conflict' ELSE 'dead' END AS status) AS s`;

const COLUMNS =
  'client_id, id, type, entity_id, expected_version, payload, fingerprint, status, attempts, failures, result, error, submitted_at, updated_at, completed_at, trace_parent';

async function walLsn(pool: pg.Pool): Promise<string> {
  return (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
}
async function walSince(pool: pg.Pool, lsn: string): Promise<number> {
  return Number((await pool.query<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint AS n', [lsn])).rows[0]!.n);
}

interface Sizes {
  heap: number;
  indexes: number;
  liveTuples: number;
  deadTuples: number;
}
async function sizes(pool: pg.Pool, table: string): Promise<Sizes> {
  const { rows } = await pool.query<{ heap: string; indexes: string; live: string; dead: string }>(
    `SELECT pg_table_size(c.oid) AS heap, pg_indexes_size(c.oid) AS indexes, coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead
       FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
      WHERE c.oid = $1::regclass`,
    [table],
  );
  const row = rows[0]!;
  return { heap: Number(row.heap), indexes: Number(row.indexes), liveTuples: Number(row.live), deadTuples: Number(row.dead) };
}
const describeSizes = (s: Sizes) => `heap ${mb(s.heap)}, indexes ${mb(s.indexes)}, dead tuples ${fmt(s.deadTuples)}`;

const ratio = (a: number, b: number) => (b > 0 ? `${fmt(a / b, 2)}x` : 'n/a');
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? 0;

/**
 * A closed loop of `producers` submitters of `account.open` (each on a fresh entity) for `ms`, under
 * `clientId`; returns the commands accepted per second and, once they have ended, applied per second.
 */
interface Load {
  submitted: number;
  submittedPerSec: number;
  appliedPerSec: number;
  /** The cluster's WAL over the round (the purge's too, when one runs beside it) per command submitted. */
  walPerCommand: number;
}
async function submissionLoad(system: System, pool: pg.Pool, clientId: string, ms: number): Promise<Load> {
  const lsn = await walLsn(pool);
  const end = Date.now() + ms;
  const started = Date.now();
  let submitted = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, p) => {
      for (let i = 0; Date.now() < end; i++) {
        const id = `${clientId}-${p}-${i}`;
        await system.commands.submit(clientId, [{ id, type: 'account.open', entityId: id, expectedVersion: undefined, payload: {} }]);
        submitted++;
      }
    }),
  );
  const elapsed = Date.now() - started;
  // Bounded wait for the worker to end what was accepted (the primary key reads one client's rows).
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE client_id = $1 AND status IN ('queued', 'retrying')`, [
      clientId,
    ]);
    if (rows[0]!.n === 0) break;
    if (Date.now() > deadline) throw new Error(`the ${clientId} load did not drain within 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const { rows } = await pool.query<{ n: number; span: number }>(
    `SELECT count(*)::int AS n, extract(epoch FROM max(completed_at) - min(submitted_at))::float8 AS span FROM oncely.commands WHERE client_id = $1`,
    [clientId],
  );
  return { submitted, submittedPerSec: (submitted / elapsed) * 1000, appliedPerSec: rows[0]!.n / rows[0]!.span, walPerCommand: (await walSince(pool, lsn)) / submitted };
}

const mean = (loads: Load[], key: 'submittedPerSec' | 'appliedPerSec' | 'walPerCommand') => loads.reduce((a, l) => a + l[key], 0) / loads.length;

interface PurgeRun {
  purged: number;
  ms: number;
  batchMs: number[];
  wal: number;
}
// The candidate: the same statement, reading the oldest ended rows through a partial index on completed_at
// (created in phase 6) instead of a sequential scan from the start of the heap, which reads every row
// before the first old one: nothing on a table written in time order, but once VACUUM has handed the space
// of purged rows to new commands, the young rows at the front of the heap, batch after batch.
const ENDED = `'succeeded', 'rejected', 'conflict', 'dead'`;
const PURGE_BY_INDEX = `
  WITH doomed AS (
    SELECT client_id, id FROM oncely.commands
    WHERE status IN (${ENDED}) AND completed_at < $1
    ORDER BY completed_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  )
  DELETE FROM oncely.commands AS c USING doomed AS d
  WHERE c.client_id = d.client_id AND c.id = d.id
    AND c.status IN (${ENDED}) AND c.completed_at < $1`;

/**
 * Purges until `ms` passed or nothing is left, timing each batch: with `statement` unset, the real purge
 * (purgeEndedCommands: every batch its own transaction under the retention lock); else the same loop around
 * `statement`.
 */
async function purgeFor(pool: pg.Pool, cutoff: Date, ms: number, statement?: string): Promise<PurgeRun> {
  const end = Date.now() + ms;
  const batchMs: number[] = [];
  const lsn = await walLsn(pool);
  const started = performance.now();
  let last = started;
  const onBatch = () => {
    const now = performance.now();
    batchMs.push(now - last);
    last = now;
  };
  let purged = 0;
  if (statement === undefined) {
    purged = (await purgeEndedCommands(pool, { schema: 'oncely', cutoff, wait: true, onBatch, stopped: () => Date.now() >= end })).purged;
  } else {
    while (Date.now() < end) {
      const deleted = await withTransaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [RETENTION_LOCK_KEY]);
        return (await client.query(statement, [cutoff, PURGE_BATCH_SIZE])).rowCount ?? 0;
      });
      purged += deleted;
      if (deleted > 0) onBatch();
      if (deleted < PURGE_BATCH_SIZE) break;
    }
  }
  return { purged, ms: performance.now() - started, batchMs, wal: await walSince(pool, lsn) };
}

function describePurge(run: PurgeRun): string {
  const sorted = [...run.batchMs].sort((a, b) => a - b);
  const tenth = Math.max(1, Math.floor(run.batchMs.length / 10));
  const rate = (batches: number[]) => (batches.length * PURGE_BATCH_SIZE) / (batches.reduce((a, b) => a + b, 0) / 1000);
  if (run.purged === 0) return `  purged nothing in ${seconds(run.ms)}`;
  return [
    `  purged ${fmt(run.purged)} rows in ${seconds(run.ms)}: ${fmt((run.purged / run.ms) * 1000)} rows/s`,
    `  per batch of ${fmt(PURGE_BATCH_SIZE)}: p50 ${fmt(percentile(sorted, 0.5), 1)} ms, p99 ${fmt(percentile(sorted, 0.99), 1)} ms, max ${fmt(sorted.at(-1) ?? 0, 1)} ms`,
    `  rows/s over the first tenth of the batches ${fmt(rate(run.batchMs.slice(0, tenth)))}, over the last tenth ${fmt(rate(run.batchMs.slice(-tenth)))}`,
    `  WAL ${mb(run.wal)}: ${fmt(run.wal / Math.max(1, run.purged))} bytes per row`,
  ].join('\n');
}

async function main(): Promise<void> {
  say(`retention-bench: ${fmt(ROWS)} ended commands over ${DAYS} days, the oldest ${OLD_DAYS} past the cutoff; database ${DATABASE}`);
  await admin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${DATABASE}`);
  const pool = new pg.Pool({ connectionString: url, max: 4, application_name: 'oncely-retention-bench' });
  pool.on('error', () => {});
  let system: System | undefined;
  try {
    await migrateSystem(url, { ONCELY_SCHEMA: 'oncely' }, referenceDomains);
    const server = (
      await pool.query<{ v: string; av: string; sb: string }>(
        `SELECT current_setting('server_version') AS v, current_setting('autovacuum') AS av, current_setting('shared_buffers') AS sb`,
      )
    ).rows[0]!;
    say(`PostgreSQL ${server.v}, autovacuum ${server.av}, shared_buffers ${server.sb}`);

    // The same rows twice: oncely's table, and one partitioned by day of submission (a row never moves: a
    // command is inserted when submitted and only updated afterwards). Its primary key must contain the
    // partition column, which is exactly why it cannot dedupe (docs/scaling.md).
    let started = performance.now();
    await pool.query(`INSERT INTO oncely.commands (${COLUMNS}) ${GENERATE}`, [ROWS, DAYS]);
    say(`generated ${fmt(ROWS)} rows into oncely.commands in ${seconds(performance.now() - started)}`);
    await pool.query(`
      CREATE TABLE oncely.commands_by_day (LIKE oncely.commands INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (client_id, id, submitted_at))
        PARTITION BY RANGE (submitted_at)`);
    await pool.query(`CREATE INDEX ON oncely.commands_by_day (submitted_at) WHERE status IN ('queued', 'retrying')`);
    await pool.query(`CREATE INDEX ON oncely.commands_by_day (client_id, completed_at, id) WHERE status = 'dead'`);
    const { rows: dayRows } = await pool.query<{ lo: string; hi: string }>(
      `SELECT d::text AS lo, (d + interval '1 day')::text AS hi
         FROM generate_series(date_trunc('day', (SELECT min(submitted_at) FROM oncely.commands)), (SELECT max(submitted_at) FROM oncely.commands), interval '1 day') AS d`,
    );
    for (const [i, day] of dayRows.entries()) {
      await pool.query(`CREATE TABLE oncely.commands_day_${i} PARTITION OF oncely.commands_by_day FOR VALUES FROM ('${day.lo}') TO ('${day.hi}')`);
    }
    started = performance.now();
    await pool.query(`INSERT INTO oncely.commands_by_day SELECT * FROM oncely.commands`);
    say(`copied them into oncely.commands_by_day (${dayRows.length} daily partitions) in ${seconds(performance.now() - started)}`);
    started = performance.now();
    await pool.query(`VACUUM ANALYZE oncely.commands`);
    await pool.query(`VACUUM ANALYZE oncely.commands_by_day`);
    say(`VACUUM ANALYZE of both in ${seconds(performance.now() - started)}`);

    // The final cutoff: every row of the oldest OLD_DAYS days, and for the partitioned table every partition
    // wholly before it (the first partition starts at midnight, so it and the next OLD_DAYS - 1 go whole). The
    // scan purges the older half of those rows (phases 2 and 3), the index the younger half (phase 5).
    const at = async (days: number) =>
      (await pool.query<{ cutoff: Date }>(`SELECT min(submitted_at) + $1::float8 * interval '1 day' AS cutoff FROM oncely.commands`, [days])).rows[0]!.cutoff;
    const cutoff = await at(OLD_DAYS / 2);
    const finalCutoff = await at(OLD_DAYS);
    const count = async (before: Date) =>
      Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM oncely.commands WHERE status IN (${ENDED}) AND completed_at < $1`, [before])).rows[0]!.n);
    const purgeable = await count(cutoff);
    const before = await sizes(pool, 'oncely.commands');
    say(
      `cutoffs ${cutoff.toISOString()} (scan) and ${finalCutoff.toISOString()} (index): ${fmt(purgeable)} and ${fmt((await count(finalCutoff)) - purgeable)} ended commands`,
    );
    say(`oncely.commands: ${describeSizes(before)}`);

    const config = { ...parseConfig({ LOG_LEVEL: 'silent' }), DATABASE_URL: url };
    system = await startSystem({ config, roles: { api: true, worker: true }, log: createLogger('silent', 'retention-bench'), domains: referenceDomains, migrate: false });
    await submissionLoad(system, pool, 'warm-up', 5000);

    // Alone and beside the purge in turns, so that the machine's drift (a shared VM) falls on both alike.
    say(
      `\n1-2. submission load (${PRODUCERS} producers, closed loop, account.open), ${ROUNDS} rounds of ${LOAD_SECONDS} s alone then ${LOAD_SECONDS} s beside the purge`,
    );
    const quiet: Load[] = [];
    const loaded: Load[] = [];
    const beside: PurgeRun[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      quiet.push(await submissionLoad(system, pool, `load-quiet-${round}`, LOAD_SECONDS * 1000));
      const purging = purgeFor(pool, cutoff, LOAD_SECONDS * 1000);
      loaded.push(await submissionLoad(system, pool, `load-purge-${round}`, LOAD_SECONDS * 1000));
      beside.push(await purging);
      say(
        `  round ${round}: alone ${fmt(quiet.at(-1)!.submittedPerSec)} commands/s, beside the purge ${fmt(loaded.at(-1)!.submittedPerSec)} commands/s (the purge: ${fmt((beside.at(-1)!.purged / beside.at(-1)!.ms) * 1000)} rows/s)`,
      );
    }
    const concurrent: PurgeRun = {
      purged: beside.reduce((a, r) => a + r.purged, 0),
      ms: beside.reduce((a, r) => a + r.ms, 0),
      batchMs: beside.flatMap((r) => r.batchMs),
      wal: beside.reduce((a, r) => a + r.wal, 0),
    };
    say(
      `  mean: alone submitted ${fmt(mean(quiet, 'submittedPerSec'))} / applied ${fmt(mean(quiet, 'appliedPerSec'))} commands/s; beside the purge ${fmt(mean(loaded, 'submittedPerSec'))} / ${fmt(mean(loaded, 'appliedPerSec'))}` +
        ` (${ratio(mean(loaded, 'submittedPerSec'), mean(quiet, 'submittedPerSec'))} / ${ratio(mean(loaded, 'appliedPerSec'), mean(quiet, 'appliedPerSec'))})`,
    );
    say(`  the purge beside the load:`);
    say(describePurge(concurrent));

    say(`\n3. the purge alone (the load stopped), the rest of the older half, at most ${SWEEP_SECONDS} s`);
    const alone = await purgeFor(pool, cutoff, SWEEP_SECONDS * 1000);
    say(describePurge(alone));
    if (alone.purged === 0) throw new Error('phase 3 purged nothing (the purge beside the load took every row): raise --rows or --old-days');
    const deleteRate = (alone.purged / alone.ms) * 1000;
    say(
      `  against the processor's rates (docs/performance.md): ${ratio(deleteRate, 7284)} the worker's 7,284 applied/s, ${ratio(deleteRate, 4427)} the batch endpoint's 4,427/s;` +
        ` a sweep of ${MAX_BATCHES_PER_SWEEP} batches every 60 s (RETENTION_INTERVAL_SECONDS) alone would be ${fmt((MAX_BATCHES_PER_SWEEP * PURGE_BATCH_SIZE) / 60)} rows/s`,
    );

    say('\n4. the table after the purge');
    const after = await sizes(pool, 'oncely.commands');
    say(`  before: ${describeSizes(before)}`);
    say(`  after:  ${describeSizes(after)}`);
    let lsn = await walLsn(pool);
    started = performance.now();
    await pool.query('VACUUM oncely.commands');
    const vacuumMs = performance.now() - started;
    const vacuumWal = await walSince(pool, lsn);
    const vacuumed = await sizes(pool, 'oncely.commands');
    say(`  VACUUM: ${seconds(vacuumMs)}, WAL ${mb(vacuumWal)}; then ${describeSizes(vacuumed)} (the space is reused by later inserts, not returned)`);
    const purgedScan = concurrent.purged + alone.purged;
    const deleteTotalMs = alone.ms + vacuumMs * (alone.purged / purgedScan);
    const deleteTotalWal = alone.wal + vacuumWal * (alone.purged / purgedScan);

    // A table in steady state: the space VACUUM freed is taken by the commands that came since, so the
    // front of the heap holds young rows and the next oldest rows lie behind them.
    say(`\n5. steady state: ${fmt(purgedScan)} young ended commands take the freed space, then the younger half is purged by the same scan, at most ${SWEEP_SECONDS} s`);
    started = performance.now();
    await pool.query(
      `INSERT INTO oncely.commands (${COLUMNS})
       SELECT 'young-' || client_id, 'young-' || id, type, entity_id, expected_version, payload, fingerprint, status, attempts, failures, result, error,
              now(), now(), now(), trace_parent
         FROM (${GENERATE}) AS r`,
      [purgedScan, DAYS],
    );
    const { rows: where } = await pool.query<{ first: string; last: string; blocks: string }>(
      `SELECT min((ctid::text::point)[0])::bigint AS first, max((ctid::text::point)[0])::bigint AS last, pg_relation_size('oncely.commands') / 8192 AS blocks
         FROM oncely.commands WHERE client_id LIKE 'young-%'`,
    );
    say(
      `  inserted in ${seconds(performance.now() - started)}, into blocks ${fmt(Number(where[0]!.first))}-${fmt(Number(where[0]!.last))} of ${fmt(Number(where[0]!.blocks))}`,
    );
    const steady = await purgeFor(pool, finalCutoff, SWEEP_SECONDS * 1000);
    say(describePurge(steady));
    const steadyRate = steady.purged > 0 ? (steady.purged / steady.ms) * 1000 : 0;
    say(`  ${ratio(steadyRate, deleteRate)} the rows/s of phase 3`);

    say(`\n6. the rest through a partial index on completed_at (ended commands), at most ${SWEEP_SECONDS} s`);
    lsn = await walLsn(pool);
    started = performance.now();
    await pool.query(`CREATE INDEX commands_ended_idx ON oncely.commands (completed_at) WHERE status IN (${ENDED})`);
    const indexMs = performance.now() - started;
    const indexWal = await walSince(pool, lsn);
    const indexed = await sizes(pool, 'oncely.commands');
    say(`  CREATE INDEX over ${fmt(indexed.liveTuples)} rows: ${seconds(indexMs)}, WAL ${mb(indexWal)}, ${mb(indexed.indexes - vacuumed.indexes)}`);
    const byIndex = await purgeFor(pool, finalCutoff, SWEEP_SECONDS * 1000, PURGE_BY_INDEX);
    say(describePurge(byIndex));
    const indexRate = byIndex.purged > 0 ? (byIndex.purged / byIndex.ms) * 1000 : 0;
    say(`  ${ratio(indexRate, steadyRate)} the rows/s of the scan in the same state (phase 5), ${ratio(indexRate, deleteRate)} those of phase 3`);
    const withIndex: Load[] = [];
    const withoutIndex: Load[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      withIndex.push(await submissionLoad(system, pool, `load-indexed-${round}`, LOAD_SECONDS * 1000));
    }
    await pool.query(`DROP INDEX oncely.commands_ended_idx`);
    for (let round = 1; round <= ROUNDS; round++) {
      withoutIndex.push(await submissionLoad(system, pool, `load-unindexed-${round}`, LOAD_SECONDS * 1000));
    }
    say(
      `  what the index costs each command (${ROUNDS} rounds of the load with it, then ${ROUNDS} without): ${fmt(mean(withIndex, 'submittedPerSec'))} vs ${fmt(mean(withoutIndex, 'submittedPerSec'))} commands/s` +
        ` (${ratio(mean(withIndex, 'submittedPerSec'), mean(withoutIndex, 'submittedPerSec'))}), WAL ${fmt(mean(withIndex, 'walPerCommand'))} vs ${fmt(mean(withoutIndex, 'walPerCommand'))} bytes per command`,
    );
    await system.stop();
    system = undefined;

    say(`\n7. the partitioned table: DETACH + DROP of the ${OLD_DAYS} partitions wholly before the final cutoff`);
    const { rows: old } = await pool.query<{ name: string; rows: string; bytes: string }>(
      `SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'oncely.commands_by_day'::regclass
        ORDER BY c.relname`,
    );
    const doomed = old.filter((p) => Number(p.name.replace('commands_day_', '')) < OLD_DAYS);
    const doomedRows = doomed.reduce((n, p) => n + Number(p.rows), 0);
    lsn = await walLsn(pool);
    started = performance.now();
    const client = await pool.connect();
    let locks: { relation: string; mode: string }[] = [];
    let checkMs = 0;
    try {
      await client.query('BEGIN');
      // A partition may only go when none of its commands is still in flight and all ended before the cutoff.
      for (const p of doomed) {
        const checkStarted = performance.now();
        const { rows } = await client.query<{ ok: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM oncely.${p.name} WHERE status IN ('queued', 'retrying') OR completed_at >= $1) AS ok`,
          [finalCutoff],
        );
        checkMs += performance.now() - checkStarted;
        if (!rows[0]!.ok) throw new Error(`partition ${p.name} holds a command that may not be purged`);
        await client.query(`ALTER TABLE oncely.commands_by_day DETACH PARTITION oncely.${p.name}`);
        await client.query(`DROP TABLE oncely.${p.name}`);
      }
      locks = (
        await client.query<{ relation: string; mode: string }>(
          `SELECT coalesce(c.relname, l.relation::text) AS relation, l.mode
             FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND c.relname = 'commands_by_day'`,
        )
      ).rows;
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const dropMs = performance.now() - started;
    const dropWal = await walSince(pool, lsn);
    say(
      `  ${doomed.length} partitions, ${fmt(doomedRows)} rows, ${mb(doomed.reduce((n, p) => n + Number(p.bytes), 0))} with indexes: ${seconds(dropMs)} in one transaction, WAL ${fmt(dropWal)} bytes`,
    );
    say(`  of which ${seconds(checkMs)} is the check that no row of a partition may stay (a read of each partition), ${seconds(dropMs - checkMs)} DETACH + DROP`);
    say(`  locks held on the parent until COMMIT: ${locks.map((l) => `${l.relation} ${l.mode}`).join(', ') || 'none'}`);

    say('\nsummary');
    const perRowMs = deleteTotalMs / Math.max(1, alone.purged);
    const perRowWal = deleteTotalWal / Math.max(1, alone.purged);
    say(
      `  batched delete (scan): ${fmt(deleteRate)} rows/s, ${fmt(alone.wal / alone.purged)} WAL bytes/row; with its VACUUM ${fmt(perRowMs * 1000, 1)} us/row, ${fmt(perRowWal)} WAL bytes/row`,
    );
    say(`  for the ${fmt(doomedRows)} rows of the dropped partitions that is ${seconds(perRowMs * doomedRows)} and ${mb(perRowWal * doomedRows)} of WAL`);
    say(
      `  partition drop: ${seconds(dropMs)} (${seconds(dropMs - checkMs)} without the check) and ${fmt(dropWal)} bytes of WAL: ${fmt((perRowMs * doomedRows) / dropMs)}x faster, ${fmt((perRowWal * doomedRows) / Math.max(1, dropWal))}x less WAL`,
    );
    say(`  batched delete in steady state (young rows first in the heap): ${fmt(steadyRate)} rows/s (${ratio(steadyRate, deleteRate)})`);
    if (indexRate > 0) {
      say(
        `  batched delete through the partial index, same state: ${fmt(indexRate)} rows/s (${ratio(indexRate, steadyRate)}), ${fmt(byIndex.wal / byIndex.purged)} WAL bytes/row`,
      );
    }
    say(
      `  submission load while purging: ${ratio(mean(loaded, 'submittedPerSec'), mean(quiet, 'submittedPerSec'))} submitted, ${ratio(mean(loaded, 'appliedPerSec'), mean(quiet, 'appliedPerSec'))} applied`,
    );
  } finally {
    await system?.stop().catch(() => {});
    await pool.end();
    if (!values.keep) await admin(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  }
}

await main();
