// Retention: workers with COMMAND_RETENTION purge exactly the ended commands past it, one purger at a time,
// never a queued or retrying command and never a business row.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { createPool } from '../../src/db/pool.ts';
import { createLogger } from '../../src/log.ts';
import { purgeBatch, purgeEndedCommands, retentionCutoff, RETENTION_LOCK_KEY, startRetentionSweeper } from '../../src/processor/retention.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { businessCounts, insertCommands, storedIds } from '../helpers/cli.ts';
import { startSystem, testConfig, waitForTerminal, waitUntil } from '../helpers/system.ts';

const db = useTestDatabase();
const systems: System[] = [];

const count = async (where: string) => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE ${where}`)).rows[0]!.n;

/** Old ended commands of client `client`, in every ended status, completed `ago` ago. */
async function insertEnded(client: string, n: number, ago: string): Promise<void> {
  await db.pool.query(
    `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, completed_at)
     SELECT $1, $1 || '-' || i, 'account.credit', 'nobody', '{"amount":1}', 'by-hand',
            (ARRAY['succeeded', 'rejected', 'conflict', 'dead'])[1 + i % 4], now() - $3::interval
     FROM generate_series(1, $2::int) AS i`,
    [client, n, ago],
  );
}

describe('COMMAND_RETENTION', () => {
  it('is a duration of at least a minute, read as milliseconds, and off when unset', () => {
    expect(parseConfig({}).COMMAND_RETENTION).toBeUndefined();
    expect(parseConfig({ COMMAND_RETENTION: '30d' }).COMMAND_RETENTION).toBe(30 * 86_400_000);
    expect(parseConfig({ COMMAND_RETENTION: '12h' }).COMMAND_RETENTION).toBe(12 * 3_600_000);
    for (const bad of ['30', '30 days', '1d12h', '30s', '-1d']) {
      expect(() => parseConfig({ COMMAND_RETENTION: bad }), bad).toThrow(ConfigError);
      expect(() => parseConfig({ COMMAND_RETENTION: bad }), bad).toThrow(/COMMAND_RETENTION/);
    }
  });

  it('lets two workers purge exactly the ended commands past it, and nothing else', async () => {
    const purgedBy = [0, 0];
    for (const [i, api] of [true, false].entries()) {
      const config = testConfig(db.url, { COMMAND_RETENTION: '30d', RETENTION_INTERVAL_SECONDS: '1' });
      systems.push(
        await startSystem({
          config,
          roles: { api, worker: true },
          log: createLogger('silent', 'test'),
          domains: referenceDomains,
          migrate: false,
          onPurged: (n) => (purgedBy[i]! += n),
        }),
      );
    }
    // Business rows made by real commands, which ended just now.
    await systems[0]!.commands.submit('anonymous', [{ id: 'open-carol', type: 'account.open', entityId: 'carol', expectedVersion: undefined, payload: {} }]);
    await waitForTerminal(db.pool, 'open-carol');
    await systems[0]!.commands.submit('anonymous', [
      { id: 'credit-carol', type: 'account.credit', entityId: 'carol', expectedVersion: undefined, payload: { amount: 7 } },
    ]);
    expect((await waitForTerminal(db.pool, 'credit-carol')).status).toBe('succeeded');
    const business = await businessCounts(db.pool);
    expect(business.ledger_entries).toBe(1);

    await insertCommands(db.pool, [
      { clientId: 'keep', id: 'recent-succeeded', status: 'succeeded', completedAgo: '29 days' },
      { clientId: 'keep', id: 'recent-dead', status: 'dead', completedAgo: '1 day' },
      { clientId: 'keep', id: 'waiting', status: 'queued', completedAgo: null },
      { clientId: 'keep', id: 'backing-off', status: 'retrying', completedAgo: null },
      // Not a state the processor writes; if it were, a command that has not ended still stays.
      { clientId: 'keep', id: 'odd-queued', status: 'queued', completedAgo: '90 days' },
      { clientId: 'keep', id: 'odd-retrying', status: 'retrying', completedAgo: '90 days' },
    ]);
    // Several batches' worth, for both workers to take turns on.
    await insertEnded('old', 3456, '31 days');

    await waitUntil(
      () => Promise.resolve(purgedBy[0]! + purgedBy[1]!),
      (n) => n >= 3456,
      60_000,
      'the old ended commands to be purged',
    );
    expect(await count(`client_id = 'old'`)).toBe(0);
    expect(purgedBy[0]! + purgedBy[1]!).toBe(3456);
    expect(await storedIds(db.pool, 'keep')).toEqual(['backing-off', 'odd-queued', 'odd-retrying', 'recent-dead', 'recent-succeeded', 'waiting']);
    expect(await storedIds(db.pool, 'anonymous')).toEqual(['credit-carol', 'open-carol']);
    expect(await businessCounts(db.pool)).toEqual(business);

    for (const system of systems.splice(0)) await system.stop();
    // Nothing more was purged by a sweep that ran after the counts were taken.
    expect(purgedBy[0]! + purgedBy[1]!).toBe(3456);
  });

  it('purges one at a time: a purger steps aside from, or waits for, the retention lock held elsewhere', async () => {
    await insertEnded('locked', 1500, '40 days');
    const pool = createPool({ connectionString: db.url, max: 4, applicationName: 'retention-test', onError: () => {} });
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1::bigint)', [RETENTION_LOCK_KEY]);
      const cutoff = await retentionCutoff(pool, 30 * 86_400_000);

      // A worker's sweep gives way at once.
      expect(await purgeBatch(pool, 'oncely', cutoff, 1000, { wait: false })).toBeNull();
      expect(await purgeEndedCommands(pool, { schema: 'oncely', cutoff, wait: false })).toEqual({ purged: 0, busy: true });

      // The CLI's purge waits for its turn, deleting nothing meanwhile.
      const waiting = purgeEndedCommands(pool, { schema: 'oncely', cutoff, wait: true });
      await waitUntil(
        async () => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rows[0]!.n,
        (n) => n === 1,
        10_000,
        'the purge to wait for the retention lock',
      );
      expect(await count(`client_id = 'locked'`)).toBe(1500);
      await holder.query('COMMIT');
      expect(await waiting).toEqual({ purged: 1500, busy: false });
      expect(await count(`client_id = 'locked'`)).toBe(0);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
      await pool.end();
    }
  });

  it('drains a backlog larger than one sweep without waiting an interval between sweeps, each batch still bounded', async () => {
    // 300 rows, 3 batches of 10 per sweep: ten sweeps. Waiting the interval (5 s) after each would take 50 s;
    // a sweep cut short by its bound goes on after a pause as long as itself.
    await insertEnded('backlog', 300, '45 days');
    const pool = createPool({ connectionString: db.url, max: 2, applicationName: 'retention-test', onError: () => {} });
    const batches: number[] = [];
    const errors: unknown[] = [];
    const started = Date.now();
    const sweeper = startRetentionSweeper({
      pool,
      schema: 'oncely',
      retentionMs: 30 * 86_400_000,
      intervalMs: 5000,
      batchSize: 10,
      maxBatchesPerSweep: 3,
      onPurged: (n) => batches.push(n),
      onError: (err) => errors.push(err),
    });
    try {
      await waitUntil(
        () => count(`client_id = 'backlog'`),
        (n) => n === 0,
        14_000,
        'the backlog to be purged within two intervals after the first sweep',
      );
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(errors).toEqual([]);
      expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
      expect(Math.max(...batches)).toBeLessThanOrEqual(10);
    } finally {
      await sweeper.stop();
      await pool.end();
    }
  });
});
