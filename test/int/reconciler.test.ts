// Guarantee 1 when the queue loses a job: a queued or retrying command whose job vanished (deleted by
// hand, a restored backup, a bug) is queued again by the workers' reconcile sweep and applied once; a
// command whose job is alive is never queued a second time, however many workers sweep at once.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createCommandService, type CommandService } from '../../src/processor/commands.ts';
import { RECONCILE_LOCK_KEY, reconcileGraceSeconds, startReconciler, type Reconciler } from '../../src/processor/reconcile.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import { startQueue, type CommandQueue } from '../../src/queue/boss.ts';
import { commandsWithoutLiveJob } from '../../src/queue/live-jobs.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, waitForAllTerminal, waitForTerminal, waitUntil } from '../helpers/system.ts';

const log = createLogger('silent', 'test');

/** Every job of the command queue (any state) per command id. */
async function jobsPerCommand(pool: pg.Pool, queue = 'oncely-commands'): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ id: string; n: number }>(
    `SELECT ref->>'id' AS id, count(*)::int AS n
     FROM pgboss.job AS j
     CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END) AS ref
     WHERE j.name = $1 GROUP BY 1`,
    [queue],
  );
  return new Map(rows.map((row) => [row.id, row.n]));
}

/** Deletes every job of the command queue that carries one of these commands: the job "vanishes". */
async function deleteJobsOf(pool: pg.Pool, ids: readonly string[]): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM pgboss.job AS j WHERE j.name = 'oncely-commands' AND EXISTS (
       SELECT 1 FROM jsonb_array_elements(CASE WHEN j.data ? 'commands' THEN j.data->'commands' ELSE jsonb_build_array(j.data) END) AS ref
       WHERE ref->>'id' = ANY($1::text[]))`,
    [ids],
  );
  return rowCount ?? 0;
}

/** Waits (bounded) until every one of these commands has been left unchanged for longer than `seconds`. */
async function waitUntilOlderThan(pool: pg.Pool, ids: readonly string[], seconds: number): Promise<void> {
  await waitUntil(
    async () =>
      (
        await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = ANY($1::text[]) AND updated_at < now() - make_interval(secs => $2)`, [
          ids,
          seconds,
        ])
      ).rows[0]?.n,
    (n) => n === ids.length,
    (seconds + 10) * 1000,
    `commands older than ${seconds} s`,
  );
}

const credit = (id: string, account: string, amount: number): NewCommand => ({
  id,
  type: 'account.credit',
  entityId: account,
  expectedVersion: undefined,
  payload: { amount },
});

describe('reconciler: a worker system queues commands whose job vanished again', () => {
  const db = useTestDatabase();
  const systems: System[] = [];
  // JOB_EXPIRE_SECONDS 2: a grace period of reconcileGraceSeconds(2) = 6 s.
  const env = { JOB_EXPIRE_SECONDS: '2', RECONCILE_INTERVAL_SECONDS: '1' };

  it('applies each command whose job was deleted exactly once, within the grace period plus a sweep interval', async () => {
    const setup = await startTestSystem(db.url, { env, roles: { api: false, worker: true } });
    systems.push(setup);
    await setup.commands.submit('anonymous', [{ id: 'open-r1', type: 'account.open', entityId: 'r1', expectedVersion: undefined, payload: {} }]);
    await waitForTerminal(db.pool, 'open-r1');
    await setup.stop();

    // Stored and queued with no worker running, then their jobs deleted.
    const api = await startTestSystem(db.url, { env, roles: { api: true, worker: false } });
    systems.push(api);
    const ids = Array.from({ length: 120 }, (_, i) => `credit-r1-${i}`);
    const submitted = Date.now();
    await Promise.all(ids.map((id, i) => api.commands.submit('anonymous', [credit(id, 'r1', i + 1)])));
    // An account opened and credited after it: queued again in the order they were first queued.
    await api.commands.submit('anonymous', [{ id: 'open-r2', type: 'account.open', entityId: 'r2', expectedVersion: undefined, payload: {} }]);
    await api.commands.submit('anonymous', [credit('credit-r2', 'r2', 5)]);
    expect(await deleteJobsOf(db.pool, [...ids, 'open-r2', 'credit-r2'])).toBeGreaterThan(0);
    expect([...(await jobsPerCommand(db.pool)).keys()].filter((id) => ids.includes(id) || id.endsWith('-r2'))).toEqual([]);

    const worker = await startTestSystem(db.url, { env, roles: { api: false, worker: true } });
    systems.push(worker);
    const grace = reconcileGraceSeconds(2);
    await waitForAllTerminal(db.pool, (grace + 15) * 1000);
    // Startup, the grace period, one interval to the sweep that finds them, a little to apply them.
    expect((Date.now() - submitted) / 1000).toBeLessThan(grace + 2 * 1 + 8);

    const { rows: statuses } = await db.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM oncely.commands WHERE id = ANY($1::text[]) GROUP BY status`,
      [ids],
    );
    expect(statuses).toEqual([{ status: 'succeeded', n: ids.length }]);
    const ledger = await db.pool.query<{ command_id: string; n: number }>(
      `SELECT command_id, count(*)::int AS n FROM ledger_entries WHERE command_id = ANY($1::text[]) GROUP BY command_id`,
      [ids],
    );
    expect(ledger.rows.length).toBe(ids.length);
    expect(ledger.rows.every((row) => row.n === 1)).toBe(true);
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'r1'`);
    expect(account.rows[0]).toEqual({ balance: (ids.length * (ids.length + 1)) / 2, version: ids.length + 1 });
    expect((await db.pool.query(`SELECT id, status FROM oncely.commands WHERE id IN ('open-r2', 'credit-r2') ORDER BY id`)).rows).toEqual([
      { id: 'credit-r2', status: 'succeeded' },
      { id: 'open-r2', status: 'succeeded' },
    ]);
    expect((await db.pool.query(`SELECT balance::int AS balance FROM accounts WHERE id = 'r2'`)).rows).toEqual([{ balance: 5 }]);
    // Counted once per command queued again.
    expect((await worker.metrics.render()).body).toMatch(new RegExp(`^oncely_reconciled_total ${ids.length + 2}$`, 'm'));
    // Queued again once each: one new job per command.
    const jobs = await jobsPerCommand(db.pool);
    expect(ids.map((id) => jobs.get(id))).toEqual(ids.map(() => 1));
  });
});

describe('reconciler: what it queues again', () => {
  const db = useTestDatabase();
  let queue: CommandQueue;
  let commands: CommandService;
  const pools: pg.Pool[] = [];
  const reconcilers: Reconciler[] = [];
  const GRACE = 3;

  /** A reconciler on a pool of its own (like a worker process), sweeping only when asked. */
  const reconcilerOnItsOwnPool = () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    pools.push(pool);
    const reconciler = startReconciler({
      schema: 'oncely',
      pool,
      intervalSeconds: 3600,
      graceSeconds: GRACE,
      withoutLiveJob: commandsWithoutLiveJob,
      enqueue: queue.enqueue,
      log,
      pageSize: 50,
    });
    reconcilers.push(reconciler);
    return reconciler;
  };

  beforeAll(async () => {
    const config = parseConfig({ JOB_EXPIRE_SECONDS: '2' });
    // A queue nobody works: every job stays where the test puts it.
    queue = await startQueue({
      connectionString: db.url,
      maxAttempts: config.RETRY_LIMIT,
      expireSeconds: config.JOB_EXPIRE_SECONDS,
      superviseIntervalSeconds: 1,
      supervise: false,
      poolSize: 3,
      applicationName: 'oncely-test',
      onError: () => {},
    });
    commands = createCommandService({ pool: db.pool, schema: 'oncely', enqueue: queue.enqueue, listener: undefined });
  });
  afterAll(async () => {
    for (const reconciler of reconcilers) await reconciler.stop();
    for (const pool of pools) await pool.end();
    await queue?.stop();
  });

  it('queues again only commands without a live job (created, retry, active, or a copy in the dead-letter queue is alive)', async () => {
    const cases = ['created', 'retry', 'active', 'dead-lettered', 'completed', 'cancelled', 'failed', 'deleted'] as const;
    const id = (c: string) => `live-${c}`;
    // One at a time, so each command has a job of its own.
    for (const c of cases) await commands.submit('anonymous', [credit(id(c), 'live', 1)]);
    const before = await jobsPerCommand(db.pool);
    expect(cases.map((c) => before.get(id(c)))).toEqual(cases.map(() => 1));

    const setState = (c: string, state: string) =>
      db.pool.query(
        `UPDATE pgboss.job SET state = $2::pgboss.job_state, start_after = now() + interval '1 hour', completed_on = CASE WHEN $2 IN ('completed', 'cancelled', 'failed') THEN now() END WHERE name = 'oncely-commands' AND data->>'id' = $1`,
        [id(c), state],
      );
    await setState('retry', 'retry');
    await setState('active', 'active');
    await setState('completed', 'completed');
    await setState('cancelled', 'cancelled');
    await setState('failed', 'failed');
    await setState('dead-lettered', 'failed');
    await db.pool.query(`INSERT INTO pgboss.job (name, data) SELECT 'oncely-commands-dead', data FROM pgboss.job WHERE name = 'oncely-commands' AND data->>'id' = $1`, [
      id('dead-lettered'),
    ]);
    await deleteJobsOf(db.pool, [id('deleted')]);

    const reconciler = reconcilerOnItsOwnPool();
    // Younger than the grace period: not even a candidate, although four have no live job.
    const early = await reconciler.sweep();
    expect(early.requeued).toEqual([]);

    await waitUntilOlderThan(db.pool, cases.map(id), GRACE);
    const swept = await reconciler.sweep();
    expect(swept.requeued.map((ref) => ref.id)).toEqual(['completed', 'cancelled', 'failed', 'deleted'].map(id));
    expect(swept.requeued.every((ref) => ref.entityId === 'live')).toBe(true);

    const after = await jobsPerCommand(db.pool);
    // The four live ones keep their one job; the others got one more (or their first again).
    expect(Object.fromEntries(cases.map((c) => [c, after.get(id(c))]))).toEqual({
      created: 1,
      retry: 1,
      active: 1,
      'dead-lettered': 1,
      completed: 2,
      cancelled: 2,
      failed: 2,
      deleted: 1,
    });
    // A second sweep finds every command with a live job now.
    expect((await reconciler.sweep()).requeued).toEqual([]);
    expect(await jobsPerCommand(db.pool)).toEqual(after);
  });

  it('leaves alone a command a worker holds locked right now', async () => {
    await commands.submit('anonymous', [credit('held-1', 'held', 1)]);
    await deleteJobsOf(db.pool, ['held-1']);
    await waitUntilOlderThan(db.pool, ['held-1'], GRACE);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM oncely.commands WHERE id = 'held-1' FOR UPDATE`);
      expect((await reconcilerOnItsOwnPool().sweep()).requeued.map((ref) => ref.id)).not.toContain('held-1');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect((await jobsPerCommand(db.pool)).get('held-1')).toBeUndefined();
    expect((await reconcilerOnItsOwnPool().sweep()).requeued.map((ref) => ref.id)).toContain('held-1');
    expect((await jobsPerCommand(db.pool)).get('held-1')).toBe(1);
  });

  it('sweeps on one worker at a time: while another holds the sweep lock, a sweep does nothing', async () => {
    await commands.submit('anonymous', [credit('locked-out-1', 'locked-out', 1)]);
    await deleteJobsOf(db.pool, ['locked-out-1']);
    await waitUntilOlderThan(db.pool, ['locked-out-1'], GRACE);
    const other = await db.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1::bigint)', [RECONCILE_LOCK_KEY.toString()]);
      expect(await reconcilerOnItsOwnPool().sweep()).toEqual({ requeued: [], examined: 0, skipped: true });
    } finally {
      await other.query('ROLLBACK');
      other.release();
    }
    expect((await jobsPerCommand(db.pool)).get('locked-out-1')).toBeUndefined();
    const swept = await reconcilerOnItsOwnPool().sweep();
    expect(swept.skipped).toBe(false);
    expect(swept.requeued.map((ref) => ref.id)).toEqual(['locked-out-1']);
  });

  it('queues each orphaned command once when two workers sweep at the same moment, page after page', async () => {
    const ids = Array.from({ length: 230 }, (_, i) => `twice-${String(i).padStart(3, '0')}`);
    await commands.submit(
      'anonymous',
      ids.map((id) => credit(id, 'twice', 1)),
    );
    await deleteJobsOf(db.pool, ids);
    await waitUntilOlderThan(db.pool, ids, GRACE);

    const a = reconcilerOnItsOwnPool();
    const b = reconcilerOnItsOwnPool();
    const requeued: string[] = [];
    // Pages of 50: a sweep needs five pages to walk them all; both keep sweeping at once.
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all([a.sweep(), b.sweep()]);
      for (const result of results) requeued.push(...result.requeued.map((ref) => ref.id));
    }
    const mine = requeued.filter((id) => id.startsWith('twice-'));
    expect(mine.length).toBe(ids.length);
    expect(new Set(mine).size).toBe(ids.length);
    const jobs = await jobsPerCommand(db.pool);
    expect(ids.filter((id) => jobs.get(id) !== 1)).toEqual([]);
  });
});

describe('reconciler: configuration', () => {
  it('sweeps every 30 s by default, takes 0 to turn the sweep off, and refuses anything else', () => {
    expect(parseConfig({}).RECONCILE_INTERVAL_SECONDS).toBe(30);
    expect(parseConfig({ RECONCILE_INTERVAL_SECONDS: '0' }).RECONCILE_INTERVAL_SECONDS).toBe(0);
    expect(() => parseConfig({ RECONCILE_INTERVAL_SECONDS: '-1' })).toThrow(/RECONCILE_INTERVAL_SECONDS/);
    expect(() => parseConfig({ RECONCILE_INTERVAL_SECONDS: 'soon' })).toThrow(/RECONCILE_INTERVAL_SECONDS/);
  });
});
