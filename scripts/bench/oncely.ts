// One scenario against oncely: a scratch database, the real api and worker processes, the load through
// HTTP, and the figures read back from the `commands` table.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { freePort } from '../../src/db/embedded.ts';
import { startCost } from './cost.ts';
import { batchSubmit, closedLoop, httpClient, openLoop, type Command, type HttpClient, type SubmitStats } from './http.ts';
import { deadlocks, observerPool, one, percentile, resetStatements, topStatements, statementCount, waitUntilTerminal } from './measure.ts';
import { createDatabase, dropDatabase } from './postgres.ts';
import { openBenchBroker, type BenchBroker } from './brokers.ts';
import { oncelyEnv, startApi, startChild, startWorker, type Child } from './processes.ts';
import { checkBalances, emptyResult, type RunContext, type RunResult } from './result.ts';
import { MEASURED_PREFIX, type Workload } from './scenarios.ts';

const TERMINAL = `('succeeded', 'rejected', 'conflict', 'dead')`;

function sockets(workload: Workload): number {
  switch (workload.mode.kind) {
    case 'closed':
      return workload.mode.producers;
    case 'wait':
      return workload.mode.clients;
    case 'open':
      return 64;
    case 'drain':
    case 'broker':
      return 1;
  }
}

/**
 * Runs one workload against oncely and returns its figures; never throws for a scenario that did not finish
 * (the result says so), only for a broken setup.
 */
export async function runOncely(workload: Workload, ctx: RunContext): Promise<RunResult> {
  const result = emptyResult('oncely', workload.commands.length);
  const started = performance.now();
  const deadline = started + ctx.timeoutMs;
  const label = `[${workload.key} oncely]`;
  const dbName = `${ctx.runId}_${workload.key}_oncely`;
  const logDir = path.join(ctx.logDir, `${workload.key}-oncely`);
  await mkdir(logDir, { recursive: true });
  const url = await createDatabase(ctx.server, dbName);
  const pool = observerPool(url);
  const port = await freePort();
  const client = httpClient(`http://127.0.0.1:${port}`, sockets(workload));
  let api: Child | undefined;
  let workers: Child[] = [];
  // The inbox scenarios: the broker's queue or stream, and `npm run inbox` taking from it.
  let broker: BenchBroker | undefined;
  let inbox: Child | undefined;
  let publishStartedAt: number | undefined;
  const alive = () => {
    ctx.signal.throwIfAborted();
    for (const child of [api, inbox, ...workers]) if (child?.unplannedExit) throw new Error(child.unplannedExit);
  };
  const startWorkers = async () => {
    workers = await Promise.all(Array.from({ length: ctx.workers }, (_, i) => startWorker(url, port, logDir, i + 1)));
  };
  const stopAll = async () => {
    await inbox?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await api?.stop();
  };
  let terminalCount = async () => Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status IN ${TERMINAL}`)).n);

  try {
    ctx.progress(`${label} starting api and ${ctx.workers} worker(s)`);
    api = await startApi(url, port, logDir);
    await startWorkers();

    // Setup: open the accounts (and credit them) through the batch endpoint, and wait for it.
    const setup: Command[] = workload.accounts.map((id) => ({ id: `open-${id}`, type: 'account.open', entityId: id, payload: {} }));
    if (workload.initialBalance > 0) {
      for (const id of workload.accounts) setup.push({ id: `seed-${id}`, type: 'account.credit', entityId: id, payload: { amount: workload.initialBalance } });
    }
    const opens = setup.filter((c) => c.type === 'account.open');
    const seeds = setup.filter((c) => c.type !== 'account.open');
    for (const [phase, commands, before] of [
      ['opening accounts', opens, 0],
      ['crediting accounts', seeds, opens.length],
    ] as const) {
      if (commands.length === 0) continue;
      await batchSubmit(client, commands, 1000, { signal: ctx.signal });
      await waitUntilTerminal({
        count: async () => (alive(), (await terminalCount()) - before),
        expected: commands.length,
        stallMs: ctx.stallMs,
        deadline,
        progress: (n) => ctx.progress(`${label} setup: ${phase} ${n}/${commands.length}`),
      });
    }
    if (workload.key.startsWith('history')) {
      // Both runs of the history scenario: counting terminal rows would scan the history twice a second and
      // charge PostgreSQL with the bench's own work. Every setup and seeded command is terminal by now, so
      // the terminal ones are the stored ones less those in flight (a probe of the small in-flight index).
      const stored = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands`)).n) + (workload.historyRows ?? 0);
      terminalCount = async () =>
        stored + submitted - Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status IN ('queued', 'retrying')`)).n);
    }
    const setupFailed = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status <> 'succeeded'`)).n);
    if (setupFailed > 0) throw new Error(`setup: ${setupFailed} setup commands did not succeed`);
    if (workload.historyRows) await seedHistory(pool, workload.historyRows, (text) => ctx.progress(`${label} ${text}`));
    // Terminal commands that are not measured ones: setup, and the seeded history.
    const notMeasured = setup.length + (workload.historyRows ?? 0);

    // The measured phase.
    if (workload.mode.kind === 'drain') {
      await Promise.all(workers.map((w) => w.stop()));
      workers = [];
    }
    if (ctx.server.statementsAvailable) await resetStatements(pool);
    const deadlocksBefore = await deadlocks(pool);
    const processes = () => [api, inbox, ...workers].filter((c): c is Child => c !== undefined);
    const meter = await startCost(pool, processes());
    let submitted = 0;
    const onAccepted = (n = 1) => {
      submitted += n;
    };
    const ticker = setInterval(() => {
      void terminalCount().then(
        (n) =>
          ctx.progress(
            `${label} submitted ${submitted}/${workload.commands.length}, terminal ${n - notMeasured}/${workload.commands.length} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
          ),
        () => {},
      );
    }, 1000);
    const timeout = AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())));
    const signal = AbortSignal.any([ctx.signal, timeout]);
    let stats: SubmitStats;
    try {
      if (workload.mode.kind === 'broker') {
        broker = await openBenchBroker(workload.mode.broker, ctx.runId);
        inbox = await startChild({
          name: 'inbox',
          script: 'src/main/inbox.ts',
          env: { ...oncelyEnv(url, port), ...broker.env, METRICS_PORT: '0' },
          readyText: 'oncely metrics on',
          logDir,
        });
        const startedAt = performance.now();
        publishStartedAt = Date.now();
        await broker.publishAll(workload.commands, onAccepted);
        stats = {
          accepted: workload.commands.length,
          errors: 0,
          firstError: undefined,
          startedAt,
          endedAt: performance.now(),
          latencies: [],
          laterLatencies: [],
          answered200: 0,
        };
      } else {
        stats = await submit(client, workload, signal, onAccepted);
      }
    } finally {
      clearInterval(ticker);
    }
    result.submitPerSec = (stats.accepted / (stats.endedAt - stats.startedAt)) * 1000;
    result.submitErrors = stats.errors;
    if (workload.mode.kind === 'wait') {
      result.requestP50Ms = percentile(stats.latencies, 0.5);
      result.requestP99Ms = percentile(stats.latencies, 0.99);
      result.requestP99AfterFirstMs = percentile(stats.laterLatencies, 0.99);
      result.answeredWithOutcome = stats.answered200;
    }
    if (workload.mode.kind === 'drain') {
      ctx.progress(`${label} backlog of ${workload.commands.length} stored; starting ${ctx.workers} worker(s)`);
      await startWorkers();
    }
    await waitUntilTerminal({
      count: async () => (alive(), (await terminalCount()) - notMeasured),
      expected: workload.commands.length,
      stallMs: ctx.stallMs,
      deadline,
      progress: (n) =>
        ctx.progress(
          `${label} submitted ${submitted}/${workload.commands.length}, terminal ${n}/${workload.commands.length} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
        ),
      intervalMs: 500,
    });
    await meter.stop(processes());
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
    await broker?.close().catch(() => {});
    client.close();
  }

  try {
    await readFigures(pool, workload, result);
    // The inbox stores a command when it takes the message, so the database's clock would start late: end to
    // end runs from the first publish instead.
    if (publishStartedAt !== undefined && result.finished) {
      const last = await one<{ ms: number }>(pool, `SELECT extract(epoch FROM max(completed_at))::float8 * 1000 AS ms FROM oncely.commands WHERE id LIKE $1`, [
        `${MEASURED_PREFIX}%`,
      ]);
      result.endToEndPerSec = (workload.commands.length / (last.ms - publishStartedAt)) * 1000;
    }
  } catch (err) {
    result.error ??= `reading the figures: ${(err as Error).message}`;
  }
  await pool.end().catch(() => {});
  if (!ctx.keepDatabases) await dropDatabase(ctx.server, dbName).catch(() => {});
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

function submit(client: HttpClient, workload: Workload, signal: AbortSignal, onAccepted: (n?: number) => void): Promise<SubmitStats> {
  const mode = workload.mode;
  switch (mode.kind) {
    case 'closed':
      return closedLoop(client, workload.commands, mode.producers, { signal, onAccepted: () => onAccepted() });
    case 'wait':
      return closedLoop(client, workload.commands, mode.clients, { signal, onAccepted: () => onAccepted(), headers: { prefer: 'wait=30' }, perClient: true });
    case 'open':
      return openLoop(client, workload.commands, mode.rate, { signal, onAccepted: () => onAccepted() });
    case 'drain':
      return batchSubmit(client, workload.commands, mode.batchSize, { signal, onAccepted });
    case 'broker':
      throw new Error('broker scenarios publish to the broker, not over HTTP');
  }
}

/**
 * The history scenario: `rows` ended commands of the same client, written by SQL straight into
 * oncely.commands (a day old, spread over 10,000 entities), then VACUUM ANALYZE as a long-lived database
 * would have had, before the measured phase.
 */
export async function seedHistory(pool: pg.Pool, rows: number, progress: (text: string) => void): Promise<void> {
  progress(`seeding ${rows} ended commands`);
  await pool.query(
    `/* oncely-bench observer */
     INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, attempts, result, submitted_at, updated_at, completed_at)
     SELECT 'anonymous', 'h-' || g, 'account.credit', 'h-' || (g % 10000), jsonb_build_object('amount', 1 + g % 100), md5(g::text), 'succeeded', 1,
            jsonb_build_object('balance', g), at, at, at + interval '5 ms'
       FROM generate_series(1, $1::int) AS g, LATERAL (SELECT now() - interval '1 day' + g * interval '10 ms' AS at) AS t`,
    [rows],
  );
  progress(`VACUUM ANALYZE of ${rows} ended commands`);
  await pool.query(`/* oncely-bench observer */ VACUUM ANALYZE oncely.commands`);
}

async function readFigures(pool: pg.Pool, workload: Workload, result: RunResult): Promise<void> {
  const like = `${MEASURED_PREFIX}%`;
  const { rows: statusRows } = await pool.query<{ status: string; n: number }>(
    `/* oncely-bench observer */ SELECT status, count(*)::int AS n FROM oncely.commands WHERE id LIKE $1 GROUP BY status ORDER BY status`,
    [like],
  );
  result.statuses = Object.fromEntries(statusRows.map((r) => [r.status, r.n]));
  const figures = await one<{ terminal: number; span_ms: number | null; apply_ms: number | null; p50: number | null; p99: number | null }>(
    pool,
    `SELECT count(*) FILTER (WHERE status IN ${TERMINAL})::int AS terminal,
            extract(epoch FROM max(completed_at) - min(submitted_at))::float8 * 1000 AS span_ms,
            extract(epoch FROM max(completed_at) - min(completed_at))::float8 * 1000 AS apply_ms,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - submitted_at)::float8 * 1000) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - submitted_at)::float8 * 1000) AS p99
       FROM oncely.commands WHERE id LIKE $1 AND status IN ${TERMINAL}`,
    [like],
  );
  result.terminal = figures.terminal;
  if (result.finished && figures.span_ms) {
    result.endToEndPerSec = (workload.commands.length / figures.span_ms) * 1000;
    result.latencyP50Ms = figures.p50;
    result.latencyP99Ms = figures.p99;
    if (workload.mode.kind === 'drain' && figures.apply_ms) result.workerAppliedPerSec = (workload.commands.length / figures.apply_ms) * 1000;
  }

  const checks: string[] = [];
  const notTerminal = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM oncely.commands WHERE status NOT IN ${TERMINAL}`)).n);
  checks.push(notTerminal === 0 ? 'ok: no command left non-terminal' : `FAIL ${notTerminal} commands not terminal`);
  const succeeded = result.statuses['succeeded'] ?? 0;
  checks.push(
    succeeded === workload.commands.length
      ? `ok: all ${succeeded} commands succeeded`
      : `FAIL ${succeeded} of ${workload.commands.length} succeeded (${JSON.stringify(result.statuses)})`,
  );
  const { rows: balances } = await pool.query<{ id: string; balance: number }>(`/* oncely-bench observer */ SELECT id, balance::float8 AS balance FROM accounts`);
  const ledger = Number((await one<{ n: string }>(pool, `SELECT count(*)::text AS n FROM ledger_entries`)).n);
  checks.push(...checkBalances(workload.expectedBalances, new Map(balances.map((r) => [r.id, r.balance])), workload.expectedLedgerRows, ledger));
  result.correctness = { ok: checks.every((c) => c.startsWith('ok')), checks };
}
