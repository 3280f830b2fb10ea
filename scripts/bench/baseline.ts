// The baseline: plain pg-boss 12 used the obvious way, in a database of its own.
//
// Producers call `boss.send` (one job per command) in the bench process; a separate worker process (this
// file run as a script) takes jobs with `boss.work` and applies each one in its own transaction with the
// naive idempotent handler:
//   BEGIN; INSERT INTO processed(msg_id) ... ON CONFLICT DO NOTHING; (if new) UPDATE accounts ...; INSERT INTO ledger ...; COMMIT
// after which pg-boss completes the job (its own statement). The worker is tuned like oncely's defaults:
// 4 fetch loops (localConcurrency), 20 jobs per fetch, LISTEN/NOTIFY wake-ups, burst while a backlog exists.
// A job whose transaction fails (a deadlock) fails the fetched batch; pg-boss retries it (retryLimit 20),
// and the processed table absorbs the jobs of that batch that had already committed.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { Command } from './http.ts';
import { startCost } from './cost.ts';
import { deadlocks, observerPool, one, percentile, resetStatements, topStatements, sleep, statementCount, waitUntilTerminal } from './measure.ts';
import { createDatabase, dropDatabase } from './postgres.ts';
import { startChild, type Child } from './processes.ts';
import { checkBalances, emptyResult, type RunContext, type RunResult } from './result.ts';
import type { Workload } from './scenarios.ts';

const QUEUE = 'bench';
const DONE_CHANNEL = 'bench_done';
const TERMINAL = `('completed', 'failed', 'cancelled')`;
const READY = 'baseline worker ready';

const SCHEMA = `
  CREATE TABLE accounts (id text PRIMARY KEY, balance bigint NOT NULL, version integer NOT NULL DEFAULT 1);
  CREATE TABLE ledger (
    seq bigserial PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    msg_id text NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    UNIQUE (msg_id, account_id)
  );
  CREATE TABLE processed (msg_id text PRIMARY KEY, processed_at timestamptz NOT NULL DEFAULT clock_timestamp());
`;

interface JobData {
  id: string;
  type: string;
  entityId: string;
  payload: { amount: number; to?: string };
}

// ---------------------------------------------------------------------------------------------------------
// The worker process.

/** Applies one job in one transaction; a duplicate msg_id changes nothing. */
async function applyJob(pool: pg.Pool, job: JobData, notify: boolean): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const fresh = await client.query('INSERT INTO processed (msg_id) VALUES ($1) ON CONFLICT DO NOTHING', [job.id]);
    if (fresh.rowCount === 1) {
      const amount = job.payload.amount;
      if (job.type === 'account.credit') {
        const { rows } = await client.query<{ balance: string }>('UPDATE accounts SET balance = balance + $1, version = version + 1 WHERE id = $2 RETURNING balance', [
          amount,
          job.entityId,
        ]);
        await client.query('INSERT INTO ledger (account_id, msg_id, amount, balance_after) VALUES ($1, $2, $3, $4)', [job.entityId, job.id, amount, rows[0]!.balance]);
      } else if (job.type === 'account.transfer') {
        const from = await client.query<{ balance: string }>(
          'UPDATE accounts SET balance = balance - $1, version = version + 1 WHERE id = $2 AND balance >= $1 RETURNING balance',
          [amount, job.entityId],
        );
        if (from.rowCount === 1) {
          const to = await client.query<{ balance: string }>('UPDATE accounts SET balance = balance + $1, version = version + 1 WHERE id = $2 RETURNING balance', [
            amount,
            job.payload.to,
          ]);
          await client.query('INSERT INTO ledger (account_id, msg_id, amount, balance_after) VALUES ($1, $2, $3, $4)', [
            job.entityId,
            job.id,
            -amount,
            from.rows[0]!.balance,
          ]);
          await client.query('INSERT INTO ledger (account_id, msg_id, amount, balance_after) VALUES ($1, $2, $3, $4)', [
            job.payload.to,
            job.id,
            amount,
            to.rows[0]!.balance,
          ]);
        }
      } else {
        throw new Error(`unknown job type ${job.type}`);
      }
    }
    if (notify) await client.query('SELECT pg_notify($1, $2)', [DONE_CHANNEL, job.id]);
    await client.query('COMMIT');
    client.release();
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
    throw err;
  }
}

async function workerMain(): Promise<void> {
  const url = process.env['DATABASE_URL'];
  if (!url) throw new Error('DATABASE_URL is not set');
  const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? '4');
  const batchSize = Number(process.env['BENCH_BATCH_SIZE'] ?? '20');
  const notify = process.env['BENCH_NOTIFY'] === '1';
  const pool = new pg.Pool({ connectionString: url, max: concurrency, application_name: 'bench-baseline-worker' });
  pool.on('error', () => {});
  const boss = new PgBoss({ connectionString: url, max: concurrency + 3, application_name: 'bench-baseline-boss', useListenNotify: true, schedule: false });
  boss.on('error', (err) => process.stderr.write(`baseline worker: pg-boss error: ${err.message}\n`));
  await boss.start();
  await boss.work<JobData>(
    QUEUE,
    {
      localConcurrency: concurrency,
      batchSize,
      burstWhenBatchFull: true,
      burstWhenReadyExceeds: 1,
      pollingIntervalSeconds: 1,
      notifyPollingIntervalSeconds: 1,
    },
    async (jobs) => {
      for (const job of jobs) await applyJob(pool, job.data, notify);
    },
  );
  process.stdout.write(`${READY}\n`);
  const stop = async () => {
    await boss.stop({ graceful: true, timeout: 20_000, close: true });
    await pool.end();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

// ---------------------------------------------------------------------------------------------------------
// The bench side: database, producers, figures.

function startBaselineWorker(url: string, logDir: string, index: number, notify: boolean): Promise<Child> {
  return startChild({
    name: `baseline-worker-${index}`,
    script: path.relative(path.resolve(fileURLToPath(new URL('../..', import.meta.url))), fileURLToPath(import.meta.url)),
    env: { DATABASE_URL: url, BENCH_CONCURRENCY: '4', BENCH_BATCH_SIZE: '20', BENCH_NOTIFY: notify ? '1' : '0' },
    readyText: READY,
    logDir,
  });
}

interface Submitted {
  startedAt: number;
  endedAt: number;
  latencies: number[];
  /** The same without each client's first request (perClient loops only). */
  laterLatencies?: number[];
}

/** Closed loop over `producers` clients calling boss.send; `waitFor` (the wait scenario) holds each client until its job's transaction committed. */
async function sendClosedLoop(
  boss: PgBoss,
  commands: readonly Command[],
  producers: number,
  options: { perClient: boolean; waitFor?: (id: string) => Promise<void>; signal: AbortSignal; onSent: () => void },
): Promise<Submitted> {
  const startedAt = performance.now();
  const latencies: number[] = [];
  const laterLatencies: number[] = [];
  let next = 0;
  const one = async (command: Command, later = false) => {
    options.signal.throwIfAborted();
    const t = performance.now();
    const done = options.waitFor?.(command.id);
    await boss.send(QUEUE, command);
    options.onSent();
    if (done) await done;
    latencies.push(performance.now() - t);
    if (later) laterLatencies.push(performance.now() - t);
  };
  const producer = async (index: number) => {
    if (options.perClient) {
      for (let i = index; i < commands.length; i += producers) await one(commands[i]!, i !== index);
      return;
    }
    while (next < commands.length) await one(commands[next++]!);
  };
  await Promise.all(Array.from({ length: producers }, (_, i) => producer(i)));
  return { startedAt, endedAt: performance.now(), latencies, laterLatencies };
}

async function sendOpenLoop(boss: PgBoss, commands: readonly Command[], rate: number, signal: AbortSignal, onSent: () => void): Promise<Submitted> {
  const startedAt = performance.now();
  const inFlight: Promise<void>[] = [];
  // Boxed, so that whatever was thrown (even a falsy value) is rethrown as it was.
  let failure: { error: unknown } | undefined;
  for (const [i, command] of commands.entries()) {
    const wait = startedAt + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    signal.throwIfAborted();
    if (failure) break;
    inFlight.push(boss.send(QUEUE, command).then(onSent, (err: unknown) => void (failure ??= { error: err })));
  }
  await Promise.all(inFlight);
  if (failure) throw failure.error;
  return { startedAt, endedAt: performance.now(), latencies: [] };
}

async function insertBacklog(boss: PgBoss, commands: readonly Command[], size: number, signal: AbortSignal, onSent: (n: number) => void): Promise<Submitted> {
  const startedAt = performance.now();
  for (let i = 0; i < commands.length; i += size) {
    signal.throwIfAborted();
    const chunk = commands.slice(i, i + size);
    await boss.insert(
      QUEUE,
      chunk.map((data) => ({ data })),
    );
    onSent(chunk.length);
  }
  return { startedAt, endedAt: performance.now(), latencies: [] };
}

/** LISTENs for the worker's per-job notification, so a waiting client hears of its outcome without polling. */
async function outcomeListener(url: string): Promise<{ waitFor: (id: string) => Promise<void>; close: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-baseline-listener' });
  client.on('error', () => {});
  await client.connect();
  const waiting = new Map<string, () => void>();
  client.on('notification', (msg) => {
    if (msg.channel !== DONE_CHANNEL || !msg.payload) return;
    waiting.get(msg.payload)?.();
    waiting.delete(msg.payload);
  });
  await client.query(`LISTEN ${DONE_CHANNEL}`);
  return {
    waitFor: (id) =>
      new Promise<void>((resolve) => {
        // Like Prefer: wait=30: give up waiting after 30 s.
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve();
        }, 30_000);
        waiting.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    close: () => client.end().catch(() => {}),
  };
}

/**
 * Runs one workload against the pg-boss baseline and returns its figures.
 *
 * @example
 * const result = await runBaseline(buildScenario('hot', { scale: 0.1, producers: 8 }), ctx);
 */
export async function runBaseline(workload: Workload, ctx: RunContext): Promise<RunResult> {
  const result = emptyResult('pg-boss', workload.commands.length);
  const started = performance.now();
  const deadline = started + ctx.timeoutMs;
  const label = `[${workload.key} pg-boss]`;
  const dbName = `${ctx.runId}_${workload.key}_pgboss`;
  const logDir = path.join(ctx.logDir, `${workload.key}-pgboss`);
  await mkdir(logDir, { recursive: true });
  const url = await createDatabase(ctx.server, dbName);
  const pool = observerPool(url);
  const mode = workload.mode;
  const producers = mode.kind === 'closed' ? mode.producers : mode.kind === 'wait' ? mode.clients : mode.kind === 'broker' ? 8 : 4;
  const boss = new PgBoss({ connectionString: url, max: Math.min(producers + 2, 20), application_name: 'bench-baseline-producer', supervise: false, schedule: false });
  boss.on('error', () => {});
  let workers: Child[] = [];
  let listener: Awaited<ReturnType<typeof outcomeListener>> | undefined;
  const alive = () => {
    ctx.signal.throwIfAborted();
    for (const child of workers) if (child.unplannedExit) throw new Error(child.unplannedExit);
  };
  const startWorkers = async () => {
    workers = await Promise.all(Array.from({ length: ctx.workers }, (_, i) => startBaselineWorker(url, logDir, i + 1, mode.kind === 'wait')));
  };
  const stopAll = async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await listener?.close();
    await boss.stop({ graceful: false, close: true }).catch(() => {});
  };
  const terminalCount = async () =>
    Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM pgboss.job WHERE name = $1 AND state IN ${TERMINAL}`, [QUEUE])).n);

  try {
    ctx.progress(`${label} creating tables and starting ${ctx.workers} worker(s)`);
    await pool.query(SCHEMA);
    await pool.query(`INSERT INTO accounts (id, balance) SELECT unnest($1::text[]), $2`, [workload.accounts, workload.initialBalance]);
    if (workload.initialBalance > 0) {
      // The setup credits as ledger rows, so that both systems' ledgers hold the same count.
      await pool.query(`INSERT INTO ledger (account_id, msg_id, amount, balance_after) SELECT id, 'seed-' || id, balance, balance FROM accounts`);
    }
    await boss.start();
    await boss.createQueue(QUEUE, { retryLimit: 20, notify: true });
    if (mode.kind !== 'drain') await startWorkers();
    if (mode.kind === 'wait') listener = await outcomeListener(url);

    if (ctx.server.statementsAvailable) await resetStatements(pool);
    const deadlocksBefore = await deadlocks(pool);
    const meter = await startCost(pool, workers);
    let submitted = 0;
    const onSent = (n = 1) => {
      submitted += n;
    };
    const ticker = setInterval(() => {
      void terminalCount().then(
        (n) =>
          ctx.progress(
            `${label} submitted ${submitted}/${workload.commands.length}, terminal ${n}/${workload.commands.length} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
          ),
        () => {},
      );
    }, 1000);
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())))]);
    let sent: Submitted;
    try {
      if (mode.kind === 'closed' || mode.kind === 'broker') sent = await sendClosedLoop(boss, workload.commands, producers, { perClient: false, signal, onSent });
      else if (mode.kind === 'wait') sent = await sendClosedLoop(boss, workload.commands, mode.clients, { perClient: true, waitFor: listener!.waitFor, signal, onSent });
      else if (mode.kind === 'open') sent = await sendOpenLoop(boss, workload.commands, mode.rate, signal, onSent);
      else sent = await insertBacklog(boss, workload.commands, mode.batchSize, signal, onSent);
    } finally {
      clearInterval(ticker);
    }
    result.submitPerSec = (workload.commands.length / (sent.endedAt - sent.startedAt)) * 1000;
    if (mode.kind === 'wait') {
      result.requestP50Ms = percentile(sent.latencies, 0.5);
      result.requestP99Ms = percentile(sent.latencies, 0.99);
      result.requestP99AfterFirstMs = percentile(sent.laterLatencies ?? [], 0.99);
    }
    if (mode.kind === 'drain') {
      ctx.progress(`${label} backlog of ${workload.commands.length} stored; starting ${ctx.workers} worker(s)`);
      await startWorkers();
    }
    await waitUntilTerminal({
      count: async () => (alive(), await terminalCount()),
      expected: workload.commands.length,
      stallMs: ctx.stallMs,
      deadline,
      progress: (n) =>
        ctx.progress(
          `${label} submitted ${submitted}/${workload.commands.length}, terminal ${n}/${workload.commands.length} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
        ),
      intervalMs: 500,
    });
    await meter.stop(workers);
    if (ctx.server.statementsAvailable) {
      result.statementsPerCommand = (await statementCount(pool)) / workload.commands.length;
      result.topStatements = await topStatements(pool, 8);
    }
    await stopAll();
    result.deadlocks = (await deadlocks(pool)) - deadlocksBefore;
    result.cost = await meter.result(workload.commands.length);
    result.finished = true;
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    await stopAll().catch(() => {});
  }

  try {
    await readFigures(pool, workload, result);
  } catch (err) {
    result.error ??= `reading the figures: ${(err as Error).message}`;
  }
  await pool.end().catch(() => {});
  if (!ctx.keepDatabases) await dropDatabase(ctx.server, dbName).catch(() => {});
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

async function readFigures(pool: pg.Pool, workload: Workload, result: RunResult): Promise<void> {
  const { rows: stateRows } = await pool.query<{ state: string; n: number }>(
    `/* oncely-bench observer */ SELECT state::text AS state, count(*)::int AS n FROM pgboss.job WHERE name = $1 GROUP BY state ORDER BY state`,
    [QUEUE],
  );
  result.statuses = Object.fromEntries(stateRows.map((r) => [r.state, r.n]));
  const figures = await one<{ terminal: number; span_ms: number | null; apply_ms: number | null; p50: number | null; p99: number | null }>(
    pool,
    `SELECT count(*)::int AS terminal,
            extract(epoch FROM max(completed_on) - min(created_on))::float8 * 1000 AS span_ms,
            extract(epoch FROM max(completed_on) - min(completed_on))::float8 * 1000 AS apply_ms,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_on - created_on)::float8 * 1000) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_on - created_on)::float8 * 1000) AS p99
       FROM pgboss.job WHERE name = $1 AND state IN ${TERMINAL}`,
    [QUEUE],
  );
  result.terminal = figures.terminal;
  if (result.finished && figures.span_ms) {
    result.endToEndPerSec = (workload.commands.length / figures.span_ms) * 1000;
    result.latencyP50Ms = figures.p50;
    result.latencyP99Ms = figures.p99;
    if (workload.mode.kind === 'drain' && figures.apply_ms) result.workerAppliedPerSec = (workload.commands.length / figures.apply_ms) * 1000;
  }
  if (workload.mode.kind === 'wait') {
    result.answeredWithOutcome = null;
  }

  const checks: string[] = [];
  const notDone = workload.commands.length - (result.statuses['completed'] ?? 0);
  checks.push(notDone === 0 ? `ok: all ${workload.commands.length} jobs completed` : `FAIL ${notDone} jobs not completed (${JSON.stringify(result.statuses)})`);
  const processed = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM processed`)).n);
  checks.push(
    processed === workload.commands.length ? `ok: ${processed} messages processed once` : `FAIL ${processed} processed rows, expected ${workload.commands.length}`,
  );
  const { rows: balances } = await pool.query<{ id: string; balance: number }>(`/* oncely-bench observer */ SELECT id, balance::float8 AS balance FROM accounts`);
  const ledger = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM ledger`)).n);
  checks.push(...checkBalances(workload.expectedBalances, new Map(balances.map((r) => [r.id, r.balance])), workload.expectedLedgerRows, ledger));
  result.correctness = { ok: checks.every((c) => c.startsWith('ok')), checks };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  workerMain().catch((err: unknown) => {
    process.stderr.write(`baseline worker: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
