// `npm run chaos`: a Jepsen-style run of the real program under faults, with a history, a checker and a
// verdict. See docs/chaos.md.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify, parseArgs } from 'node:util';
import pg from 'pg';
import { EmbeddedPostgresError, freePort } from '../db/embedded.ts';
import { runMigrations } from '../db/migrate.ts';
import { checkRun, historySummary, readFinalState, type Figure } from './checker.ts';
import { createChaosClient } from './client.ts';
import { createHistory } from './history.ts';
import { FAULT_KINDS, runNemesis, type FaultKind, type NemesisStats, type Restartable } from './nemesis.ts';
import { startChaosPostgres, type ChaosPostgres } from './postgres.ts';
import { createManagedProcess, type ManagedProcess, type UnplannedExit } from './processes.ts';
import { startChaosProxy, type ChaosProxy } from './proxy.ts';
import { runWorkload } from './workload.ts';

const USAGE = `usage: npm run chaos -- [options]
  --seed N             seed for the workload and the fault schedule (default: random, printed)
  --commands N         distinct commands to submit (default 5000)
  --duration S         seconds the workload is spread over, with faults throughout (default 120)
  --workers N          worker processes (default 3)
  --concurrency N      WORKER_CONCURRENCY of each worker (default 8)
  --clients N          client scenarios running at once (default 24)
  --faults LIST        any of ${FAULT_KINDS.join(',')} or none (default all)
  --accounts N         accounts (default 40), --hot N of them hot (default 4)
  --settle S           seconds after the last fault within which every command must be terminal (default 60)
  --expire S           workers' JOB_EXPIRE_SECONDS (default 8)
  --retry-limit N      workers' RETRY_LIMIT (default 5)
  --require LIST       minimum fault counts, e.g. worker-kills=5,pg-restarts=2,commit-cuts=20
  --database-url URL   use this server (a fresh database on it) instead of an embedded PostgreSQL
  --may-restart        with --database-url: the nemesis may crash and restart that server, using
  --pg-stop-command C  a shell command that stops it at once (e.g. "pg_ctlcluster 15 main stop -m immediate")
  --pg-start-command C and one that starts it again (e.g. "pg_ctlcluster 15 main start")
  --keep               keep the run directory (logs, history) even when every figure holds`;

const sh = promisify(execFile);

function parseOptions() {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      commands: { type: 'string', default: '5000' },
      duration: { type: 'string', default: '120' },
      workers: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '8' },
      clients: { type: 'string', default: '24' },
      faults: { type: 'string', default: FAULT_KINDS.join(',') },
      accounts: { type: 'string', default: '40' },
      hot: { type: 'string', default: '4' },
      settle: { type: 'string', default: '60' },
      expire: { type: 'string', default: '8' },
      'retry-limit': { type: 'string', default: '5' },
      require: { type: 'string', default: '' },
      'database-url': { type: 'string' },
      'may-restart': { type: 'boolean', default: false },
      'pg-stop-command': { type: 'string' },
      'pg-start-command': { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const int = (name: string, value: string | undefined, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
  const faults = new Set<FaultKind>();
  for (const name of values.faults.split(',').map((s) => s.trim()).filter((s) => s && s !== 'none')) {
    if (!(FAULT_KINDS as readonly string[]).includes(name)) throw new Error(`--faults: unknown fault ${name} (known: ${FAULT_KINDS.join(', ')})`);
    faults.add(name as FaultKind);
  }
  const require = new Map<string, number>();
  for (const item of values.require.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, value] = item.split('=');
    if (!key || !REQUIREMENTS[key]) throw new Error(`--require: unknown key ${key} (known: ${Object.keys(REQUIREMENTS).join(', ')})`);
    require.set(key, int('require', value, 0, 1_000_000));
  }
  if (values['database-url'] !== undefined) {
    let host = '';
    try {
      host = new URL(values['database-url']).hostname;
    } catch {
      throw new Error('--database-url must be a postgres:// URL');
    }
    // The run kills and starts processes and cuts connections: it stays on this machine.
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) throw new Error('--database-url must point at this machine (127.0.0.1, localhost or [::1])');
  }
  if (values['may-restart'] && !values['database-url']) throw new Error('--may-restart only makes sense with --database-url');
  if (values['may-restart'] && (!values['pg-stop-command'] || !values['pg-start-command'])) {
    throw new Error('--may-restart needs --pg-stop-command and --pg-start-command (how to crash and start that server)');
  }
  return {
    seed: values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : int('seed', values.seed, 0, 2 ** 31 - 1),
    commands: int('commands', values.commands, 10, 10_000_000),
    durationMs: int('duration', values.duration, 5, 86_400) * 1000,
    workers: int('workers', values.workers, 1, 32),
    concurrency: int('concurrency', values.concurrency, 1, 256),
    clients: int('clients', values.clients, 1, 1000),
    faults,
    accounts: int('accounts', values.accounts, 2, 10_000),
    hot: int('hot', values.hot, 1, 10_000),
    settleSeconds: int('settle', values.settle, 1, 3600),
    expireSeconds: int('expire', values.expire, 2, 3600),
    retryLimit: int('retry-limit', values['retry-limit'], 1, 100),
    require,
    databaseUrl: values['database-url'],
    mayRestart: values['may-restart'],
    stopCommand: values['pg-stop-command'],
    startCommand: values['pg-start-command'],
    keep: values.keep,
  };
}

const REQUIREMENTS: Record<string, (stats: NemesisStats, proxy: ChaosProxy | undefined) => number> = {
  'worker-kills': (stats) => stats.workerKills,
  'api-kills': (stats) => stats.apiKills,
  'worker-stops': (stats) => stats.workerStops,
  'pg-restarts': (stats) => stats.postgresRestarts,
  'terminate-sweeps': (stats) => stats.terminateSweeps,
  'commit-cuts': (_, proxy) => proxy?.stats().commitCuts ?? 0,
};

function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What to undo if the run itself breaks or is interrupted: processes, proxy, server. Last in, first out. */
const undo: (() => Promise<unknown>)[] = [];

async function undoAll(): Promise<void> {
  for (const step of undo.splice(0).reverse()) await step().catch(() => {});
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions();
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const started = Date.now();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dir = await mkdtemp(path.join(os.tmpdir(), `oncely-chaos-${options.seed}-`));
  // PostgreSQL runs as its own user when we are root: it must be able to reach its data directory.
  await chmod(dir, 0o755);
  const logDir = path.join(dir, 'logs');
  await mkdir(logDir, { recursive: true });
  const faults = new Set(options.faults);
  say(`chaos: seed ${options.seed}, ${options.commands} commands over ${options.durationMs / 1000}s, ${options.workers} workers x ${options.concurrency}, faults ${[...faults].join(',') || 'none'}`);
  say(`chaos: run directory ${dir}`);

  // --- PostgreSQL: our own, or a fresh database on the server we were given.
  let server: ChaosPostgres | undefined;
  let serverUrl: string;
  let restartable: Restartable | undefined;
  if (options.databaseUrl) {
    serverUrl = options.databaseUrl;
    if (options.mayRestart && options.stopCommand && options.startCommand) {
      const stop = options.stopCommand;
      const start = options.startCommand;
      restartable = {
        crash: async () => void (await sh('/bin/sh', ['-c', stop])),
        start: async () => {
          await sh('/bin/sh', ['-c', start]);
          for (let i = 0; i < 300; i++) {
            const probe = new pg.Client({ connectionString: serverUrl });
            probe.on('error', () => {});
            const ok = await probe.connect().then(() => true, () => false);
            await probe.end().catch(() => {});
            if (ok) return;
            await sleep(100);
          }
          throw new Error('the server did not come back within 30 s');
        },
      };
    } else if (faults.delete('restart')) {
      say('chaos: note: no PostgreSQL restarts against --database-url without --may-restart');
    }
  } else {
    const pgLog = createLogFile(path.join(logDir, 'postgres.log'));
    server = await startChaosPostgres({ dir: path.join(dir, 'pg', 'data'), log: pgLog });
    const owned = server;
    undo.push(() => owned.stop());
    serverUrl = server.url;
    restartable = server;
    say(`chaos: embedded PostgreSQL 18 on 127.0.0.1:${server.port}`);
  }
  const database = options.databaseUrl ? `oncely_chaos_${options.seed}_${process.pid}` : 'oncely_chaos';
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  if (!server) {
    undo.push(async () => {
      const cleanup = new pg.Client({ connectionString: serverUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => cleanup.end());
    });
  }
  const url = databaseUrlFor(serverUrl, database);
  await runMigrations(url);

  // --- The proxy between workers and PostgreSQL, and the processes.
  const port = new URL(url).port;
  const proxy = faults.has('proxy') ? await startChaosProxy({ targetPort: Number(port || 5432), targetHost: new URL(url).hostname }) : undefined;
  const workerUrl = proxy ? Object.assign(new URL(url), { host: `127.0.0.1:${proxy.port}` }).toString() : url;
  const apiPort = await freePort();
  const common = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    RETRY_LIMIT: String(options.retryLimit),
    JOB_EXPIRE_SECONDS: String(options.expireSeconds),
    SUPERVISE_INTERVAL_SECONDS: '2',
    RETRY_DELAY_MAX_SECONDS: '4',
    ONCELY_CHAOS_POISON: '1',
  };
  const unplanned: UnplannedExit[] = [];
  let shuttingDown = false;
  const onUnplannedExit = (exit: UnplannedExit) => {
    unplanned.push(exit);
    say(`chaos: UNPLANNED EXIT of ${exit.name} (pid ${exit.pid}, code ${exit.code}, signal ${exit.signal}): ${exit.tail.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`);
    if (!shuttingDown) {
      const proc = [api, ...workers].find((p) => p.name === exit.name);
      setTimeout(() => void proc?.start().catch(() => {}), 1000);
    }
  };
  const api: ManagedProcess = createManagedProcess({
    name: 'api',
    entry: 'api',
    env: { ...common, DATABASE_URL: url, PORT: String(apiPort) },
    logDir,
    onUnplannedExit,
  });
  const workers: ManagedProcess[] = Array.from({ length: options.workers }, (_, i) =>
    createManagedProcess({
      name: `worker-${i + 1}`,
      entry: 'worker',
      env: { ...common, DATABASE_URL: workerUrl, PORT: '0', WORKER_CONCURRENCY: String(options.concurrency) },
      logDir,
      onUnplannedExit,
    }),
  );
  undo.push(async () => {
    shuttingDown = true;
    await Promise.all([api, ...workers].map((proc) => proc.terminate(10_000)));
  });
  if (proxy) undo.push(() => proxy.close());
  await api.start();
  await Promise.all(workers.map((worker) => worker.start()));
  say(`chaos: api on http://127.0.0.1:${apiPort}, ${workers.length} workers${proxy ? ` through the proxy on 127.0.0.1:${proxy.port}` : ''}`);

  // --- Workload and nemesis side by side.
  const history = createHistory(path.join(dir, 'history.jsonl'));
  const client = createChaosClient(`http://127.0.0.1:${apiPort}`, history);
  let workloadDone = false;
  const progress = setInterval(() => {
    const counts = history.counts();
    say(`chaos: t=${((Date.now() - started) / 1000).toFixed(0)}s ${history.commands.size} commands, ops ok ${counts.ok} failed ${counts.failed} unknown ${counts.unknown}`);
  }, 15_000);
  const nemesisLog = (line: string) => say(`chaos: ${line}`);
  const [workload, stats] = await Promise.all([
    runWorkload({
      seed: options.seed,
      commands: options.commands,
      durationMs: options.durationMs,
      concurrency: options.clients,
      accounts: options.accounts,
      hotAccounts: Math.min(options.hot, options.accounts),
      client,
      history,
      log: (line) => say(`chaos: ${line}`),
    }).finally(() => {
      workloadDone = true;
    }),
    runNemesis({
      seed: options.seed,
      durationMs: options.durationMs,
      faults,
      workers,
      api,
      postgres: restartable,
      proxy,
      databaseUrl: url,
      expireSeconds: options.expireSeconds,
      log: nemesisLog,
      active: () => !workloadDone,
    }),
  ]);
  clearInterval(progress);
  say(`chaos: workload done: ${workload.issued} commands in ${(workload.elapsedMs / 1000).toFixed(0)}s (${workload.scenarios} scenarios, ${workload.poison} poison)`);
  if (workload.unsupportedTypes.length > 0) say(`chaos: note: skipped command types the API does not know: ${workload.unsupportedTypes.join(', ')}`);

  // --- Heal everything, then a quiet period for the system to finish what it accepted.
  proxy?.heal();
  for (const proc of [api, ...workers]) {
    proc.resume();
    if (!proc.running) await proc.start();
  }
  const healedAt = Math.max(Date.now(), stats.lastHealedAt ?? 0);
  const checkerDb = new pg.Client({ connectionString: url, application_name: 'oncely-chaos-checker' });
  checkerDb.on('error', () => {});
  await checkerDb.connect();
  const nonTerminal = async () =>
    (await checkerDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM commands WHERE status IN ('queued', 'retrying')`)).rows[0]?.n ?? -1;
  let left = await nonTerminal();
  while (left > 0 && Date.now() - healedAt < options.settleSeconds * 1000) {
    await sleep(500);
    left = await nonTerminal();
  }
  say(`chaos: quiet period: ${left === 0 ? 'every command terminal' : `${left} commands still not terminal`} ${((Date.now() - healedAt) / 1000).toFixed(1)}s after the last fault`);
  // Let in-flight acknowledgements and sessions settle before reading.
  await sleep(2000);
  const state = await readFinalState(checkerDb);
  const ready = await fetch(`http://127.0.0.1:${apiPort}/health/ready`).then((res) => res.status, () => 0);
  await checkerDb.end();

  // --- Stop everything the run started.
  shuttingDown = true;
  let uncleanStops = 0;
  const codes = await Promise.all([api, ...workers].map((proc) => proc.terminate(30_000)));
  for (const [i, code] of codes.entries()) {
    if (code !== 0) {
      uncleanStops++;
      say(`chaos: ${[api, ...workers][i]?.name} exited with ${code ?? 'SIGKILL'} on SIGTERM`);
    }
  }
  await proxy?.close();
  await history.close();

  const extra: Figure[] = [{ name: 'API ready (GET /health/ready) at the end', value: String(ready), ok: ready === 200 }];
  if (stats.recoveries.length > 0) {
    const known = stats.recoveries.filter((seconds): seconds is number => seconds !== null);
    const worst = known.length > 0 ? Math.max(...known) : undefined;
    const slow = stats.recoveries.filter((seconds) => seconds === null || seconds > RECOVERY_LIMIT_SECONDS).length;
    extra.push({
      name: `PostgreSQL restarts after which no command was applied within ${RECOVERY_LIMIT_SECONDS}s`,
      value: `${slow} of ${stats.recoveries.length} (slowest ${worst === undefined ? '-' : `${worst.toFixed(1)}s`}, median ${median(known)})`,
      ok: slow === 0,
    });
  }
  for (const [key, minimum] of options.require) {
    const count = REQUIREMENTS[key]?.(stats, proxy) ?? 0;
    extra.push({ name: `faults injected: ${key} (at least ${minimum})`, value: String(count), ok: count >= minimum });
  }
  const figures = checkRun({ history, state, settleSeconds: options.settleSeconds, unplannedExits: unplanned.length, uncleanStops, extra });
  const summary = historySummary([...history.commands.values()]);
  const counts = history.counts();
  const proxyStats = proxy?.stats();
  say('');
  say(`history: ${summary.commands} commands, ${summary.ops} operations (ok ${counts.ok}, failed ${counts.failed}, unknown ${counts.unknown}), ${summary.resent} sent more than once, ${summary.unknownOnly} never answered`);
  say(
    `faults: worker kills ${stats.workerKills}, api kills ${stats.apiKills}, worker SIGSTOPs ${stats.workerStops}, PostgreSQL restarts ${stats.postgresRestarts}, ` +
      `terminate sweeps ${stats.terminateSweeps} (${stats.backendsTerminated} sessions), COMMIT cuts ${proxyStats?.commitCuts ?? 0}, ` +
      `resets ${stats.resetConnections}, black holes ${stats.blackholedConnections}, latency spells ${stats.latencySpells}`,
  );
  if (state.redelivered) {
    say(`redeliveries: ${state.redelivered.commands} commands (poison aside) ended after more than one attempt, at most ${state.redelivered.maxAttempts} attempts`);
  }
  for (const fig of figures) say(`${fig.ok ? 'PASS' : 'FAIL'}  ${fig.name}: ${fig.value}`);
  const failed = figures.filter((fig) => !fig.ok).length;
  const passed = figures.length - failed;
  await writeFile(
    path.join(dir, 'summary.json'),
    JSON.stringify({ options: { ...options, faults: [...faults], require: Object.fromEntries(options.require) }, workload, stats, proxy: proxyStats, figures, unplanned }, null, 2),
  );

  undo.length = 0;
  if (server) await server.stop();
  else if (failed > 0 || options.keep) say(`chaos: database ${database} kept on ${new URL(serverUrl).host} for inspection`);
  else {
    const cleanup = new pg.Client({ connectionString: serverUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
    await cleanup.end();
  }
  if (failed === 0 && !options.keep) await rm(dir, { recursive: true, force: true });
  else say(`chaos: logs, history.jsonl and summary.json kept in ${dir}`);
  say(`chaos: seed ${options.seed}, ${((Date.now() - started) / 1000).toFixed(0)}s in all`);
  say(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

/** How soon after PostgreSQL comes back the workers must be applying commands again. */
const RECOVERY_LIMIT_SECONDS = 30;

function median(values: readonly number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  return `${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)}s`;
}

function createLogFile(file: string): (text: string) => void {
  let buffer = '';
  let writing = Promise.resolve();
  return (text) => {
    buffer += text;
    const chunk = buffer;
    buffer = '';
    writing = writing.then(() => writeFile(file, chunk, { flag: 'a' }));
  };
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`chaos: ${signal}: stopping what the run started\n`);
    void undoAll().then(() => process.exit(130));
  });
}
process.exitCode = await main().catch(async (err: unknown) => {
  // A known setup problem is one line; anything else is a bug in the harness, shown with its stack.
  const text = err instanceof EmbeddedPostgresError ? err.message : ((err as Error).stack ?? String(err));
  process.stderr.write(`chaos: the run itself failed: ${text}\n`);
  await undoAll();
  return 2;
});
process.exit();
