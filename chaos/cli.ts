// `npm run chaos`: a Jepsen-style run of the real program under faults, with a history, a checker and a
// verdict. See docs/chaos.md.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os, { hostname } from 'node:os';
import path from 'node:path';
import { promisify, parseArgs } from 'node:util';
import pg from 'pg';
import { parseConfig, type Config } from '../src/config.ts';
import { EmbeddedPostgresError, freePort } from '../src/db/embedded.ts';
import { runMigrations } from '../src/db/migrate.ts';
import { referenceDomains } from '../src/domains/index.ts';
import { BROKER_NAMES, createBrokerFeed, createEventCollector, type BrokerFeed, type BrokerName, type EventCollector } from './brokers.ts';
import { checkRun, historySummary, relayFigures, type StoredEvent, readFinalState, recoveryFigure, type Figure } from './checker.ts';
import { createChaosClient } from './client.ts';
import { createHistory } from './history.ts';
import { FAULT_KINDS, runNemesis, type FaultKind, type NemesisStats, type Restartable } from './nemesis.ts';
import { startChaosPostgres, type ChaosPostgres } from './postgres.ts';
import { createManagedProcess, type ManagedProcess, type UnplannedExit } from './processes.ts';
import { startChaosProxy, type ChaosProxy } from './proxy.ts';
import { startPgBouncer } from './pgbouncer.ts';
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
  --bursts N           open-loop bursts at fixed moments, on top of the paced commands (default 2), over at
                       most 5 hot accounts; besides them one burst goes into the first worker SIGKILL and
                       one into each PostgreSQL restart, up to --fault-bursts N of them (default 3)
  --burst-size N       commands fired at once by each burst (default 1000)
  --burst-in-flight N  requests of a burst in flight at once (default 64)
  --settle S           the final wait: every command, poison included, must be terminal within S seconds of
                       the last fault (default: computed from the config, enough for RETRY_LIMIT handler
                       failures with the production backoff)
  --expire S           override the processes' JOB_EXPIRE_SECONDS (default: the production default)
  --retry-limit N      override the processes' RETRY_LIMIT (default: the production default)
  --require LIST       minimum fault counts, e.g. worker-kills=5,pg-restarts=2,commit-cuts=20 (also api-kills,
                       worker-stops, terminate-sweeps, inbox-kills, broker-cuts), and
                       terminal-within=S: every command (poison aside) terminal within S seconds of the
                       last fault (default 10 when not given; the figure is always checked)
  --database-url URL   use this server (a fresh database on it) instead of an embedded PostgreSQL
  --may-restart        with --database-url: the nemesis may crash and restart that server, using
  --pg-stop-command C  a shell command that stops it at once (e.g. "pg_ctlcluster 15 main stop -m immediate")
  --pg-start-command C and one that starts it again (e.g. "pg_ctlcluster 15 main start")
  --broker B           feed part of the workload through rabbitmq, nats, redis or all of them (default: none)
  --broker-share F     share of the paced commands published to the broker(s) instead of POSTed (default 0.3)
  --inboxes N          inbox processes consuming them (default 2); the faults inbox (SIGKILL one) and broker
                       (close their RabbitMQ / Redis connections) act on them
  --relay              run the outbox relay (publishing to a Redis stream of the run's own), SIGKILL it
                       (relay-kills) and check every stored event was published, per entity in order
  --pooler P           none (default) or pgbouncer: the api, workers and inboxes reach PostgreSQL through a
                       PgBouncer in transaction pooling mode (DATABASE_URL), with DATABASE_DIRECT_URL for
                       what needs a session (docs/operations.md, "Behind a pooler")
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
      bursts: { type: 'string', default: '2' },
      'fault-bursts': { type: 'string', default: '3' },
      'burst-size': { type: 'string', default: '1000' },
      'burst-in-flight': { type: 'string', default: '64' },
      settle: { type: 'string' },
      expire: { type: 'string' },
      'retry-limit': { type: 'string' },
      require: { type: 'string', default: '' },
      'database-url': { type: 'string' },
      'may-restart': { type: 'boolean', default: false },
      'pg-stop-command': { type: 'string' },
      'pg-start-command': { type: 'string' },
      broker: { type: 'string', default: 'none' },
      'broker-share': { type: 'string', default: '0.3' },
      inboxes: { type: 'string', default: '2' },
      relay: { type: 'boolean', default: false },
      pooler: { type: 'string', default: 'none' },
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
  for (const name of values.faults
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && s !== 'none')) {
    if (!(FAULT_KINDS as readonly string[]).includes(name)) throw new Error(`--faults: unknown fault ${name} (known: ${FAULT_KINDS.join(', ')})`);
    faults.add(name as FaultKind);
  }
  const require = new Map<string, number>();
  for (const item of values.require
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, value] = item.split('=');
    if (key === TERMINAL_WITHIN) {
      require.set(key, int('require', value, 1, 3600));
      continue;
    }
    if (!key || !REQUIREMENTS[key]) throw new Error(`--require: unknown key ${key} (known: ${[...Object.keys(REQUIREMENTS), TERMINAL_WITHIN].join(', ')})`);
    require.set(key, int('require', value, 0, 1_000_000));
  }
  const brokerList = values.broker === 'all' ? [...BROKER_NAMES] : values.broker === 'none' ? [] : values.broker.split(',').map((b) => b.trim());
  for (const name of brokerList) {
    if (!(BROKER_NAMES as readonly string[]).includes(name)) throw new Error(`--broker: unknown broker ${name} (known: ${BROKER_NAMES.join(', ')}, all, none)`);
  }
  const brokerShare = Number(values['broker-share']);
  if (!(brokerShare >= 0 && brokerShare <= 1)) throw new Error('--broker-share must be a number from 0 to 1');
  if (values['database-url'] !== undefined) {
    let host: string;
    try {
      host = new URL(values['database-url']).hostname;
    } catch {
      throw new Error('--database-url must be a postgres:// URL');
    }
    // The run kills and starts processes and cuts connections: it stays on this machine.
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) throw new Error('--database-url must point at this machine (127.0.0.1, localhost or [::1])');
  }
  if (values.pooler !== 'none' && values.pooler !== 'pgbouncer') throw new Error('--pooler must be none or pgbouncer');
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
    bursts: int('bursts', values.bursts, 0, 1000),
    faultBursts: int('fault-bursts', values['fault-bursts'], 0, 1000),
    burstSize: int('burst-size', values['burst-size'], 1, 1_000_000),
    burstInFlight: int('burst-in-flight', values['burst-in-flight'], 1, 4096),
    settleSeconds: values.settle === undefined ? undefined : int('settle', values.settle, 1, 3600),
    expireSeconds: values.expire === undefined ? undefined : int('expire', values.expire, 2, 3600),
    retryLimit: values['retry-limit'] === undefined ? undefined : int('retry-limit', values['retry-limit'], 1, 100),
    require,
    databaseUrl: values['database-url'],
    mayRestart: values['may-restart'],
    stopCommand: values['pg-stop-command'],
    startCommand: values['pg-start-command'],
    keep: values.keep,
    brokers: brokerList as BrokerName[],
    brokerShare,
    inboxes: int('inboxes', values.inboxes, 1, 32),
    relay: values.relay,
    pooler: values.pooler,
  };
}

/** The --require key that bounds "every command (poison aside) terminal within S s of the last fault". */
const TERMINAL_WITHIN = 'terminal-within';
const DEFAULT_TERMINAL_WITHIN_SECONDS = 10;

/**
 * How long a poison command (a handler that always throws) may take to end dead, with the processes'
 * configuration: RETRY_LIMIT handler failures, the backoff 1, 2, 4, ... s capped at RETRY_DELAY_MAX_SECONDS
 * between them (src/processor/apply.ts, recordFailure), each retry found by the backstop poll
 * (POLL_INTERVAL_SECONDS) and run (a second), plus one takeover of an expired job (a killed worker's:
 * JOB_EXPIRE_SECONDS + SUPERVISE_INTERVAL_SECONDS) and a margin.
 */
function deadWithinSeconds(
  config: Pick<Config, 'RETRY_LIMIT' | 'RETRY_DELAY_MAX_SECONDS' | 'POLL_INTERVAL_SECONDS' | 'JOB_EXPIRE_SECONDS' | 'SUPERVISE_INTERVAL_SECONDS'>,
): number {
  let backoff = 0;
  for (let failures = 1; failures < config.RETRY_LIMIT; failures++) backoff += Math.min(config.RETRY_DELAY_MAX_SECONDS, 2 ** (failures - 1));
  const perAttempt = config.POLL_INTERVAL_SECONDS + 1;
  return Math.ceil(backoff + config.RETRY_LIMIT * perAttempt + config.JOB_EXPIRE_SECONDS + config.SUPERVISE_INTERVAL_SECONDS + 10);
}

const REQUIREMENTS: Record<string, (stats: NemesisStats, proxy: ChaosProxy | undefined) => number> = {
  'worker-kills': (stats) => stats.workerKills,
  'api-kills': (stats) => stats.apiKills,
  'worker-stops': (stats) => stats.workerStops,
  'pg-restarts': (stats) => stats.postgresRestarts,
  'terminate-sweeps': (stats) => stats.terminateSweeps,
  'commit-cuts': (_, proxy) => proxy?.stats().commitCuts ?? 0,
  'inbox-kills': (stats) => stats.inboxKills,
  'broker-cuts': (stats) => stats.brokerCuts,
  'relay-kills': (stats) => stats.relayKills,
};

/** Garbage messages (bad JSON, an unknown type) per broker, published twice in the run: at the start and midway. */
const GARBAGE_PER_BROKER = 3;

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
  say(
    `chaos: seed ${options.seed}, ${options.commands} commands over ${options.durationMs / 1000}s, ${options.workers} workers x ${options.concurrency}, faults ${[...faults].join(',') || 'none'}`,
  );
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
            const ok = await probe.connect().then(
              () => true,
              () => false,
            );
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
  await runMigrations(url, { domains: referenceDomains });

  // --- The proxy between workers and PostgreSQL, and the processes.
  const port = new URL(url).port;
  const proxy = faults.has('proxy') ? await startChaosProxy({ targetPort: Number(port || 5432), targetHost: new URL(url).hostname }) : undefined;
  const proxiedUrl = proxy ? Object.assign(new URL(url), { host: `127.0.0.1:${proxy.port}` }).toString() : url;
  // With --pooler pgbouncer every process's DATABASE_URL is the pooler (itself behind the proxy, so COMMIT cuts
  // reach the pooled transactions); DATABASE_DIRECT_URL keeps what needs a session off it.
  const bouncer = options.pooler === 'pgbouncer' ? await startPgBouncer({ target: proxiedUrl }) : undefined;
  if (bouncer) undo.push(() => bouncer.stop());
  const workerUrl = bouncer ? bouncer.urlFor(proxiedUrl) : proxiedUrl;
  const apiUrl = bouncer ? bouncer.urlFor(proxiedUrl) : url;
  const direct = (of: string): Record<string, string> => (bouncer ? { DATABASE_DIRECT_URL: of, DATABASE_POOLER: 'transaction' } : {});
  const apiPort = await freePort();
  // The processes run with the production defaults (src/config.ts): only what the run needs is set, and
  // --expire / --retry-limit when given explicitly.
  const common: Record<string, string> = {
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    ...(options.retryLimit === undefined ? {} : { RETRY_LIMIT: String(options.retryLimit) }),
    ...(options.expireSeconds === undefined ? {} : { JOB_EXPIRE_SECONDS: String(options.expireSeconds) }),
  };
  // What the processes will see: the same schema, the same defaults.
  const config = parseConfig(common);
  const deadWithin = deadWithinSeconds(config);
  const settleSeconds = options.settleSeconds ?? deadWithin;
  const terminalWithin = options.require.get(TERMINAL_WITHIN) ?? DEFAULT_TERMINAL_WITHIN_SECONDS;
  say(
    `chaos: processes with JOB_EXPIRE_SECONDS=${config.JOB_EXPIRE_SECONDS} SUPERVISE_INTERVAL_SECONDS=${config.SUPERVISE_INTERVAL_SECONDS} ` +
      `RETRY_LIMIT=${config.RETRY_LIMIT} RETRY_DELAY_MAX_SECONDS=${config.RETRY_DELAY_MAX_SECONDS} POLL_INTERVAL_SECONDS=${config.POLL_INTERVAL_SECONDS}` +
      `${options.expireSeconds === undefined && options.retryLimit === undefined ? ' (production defaults)' : ''}; ` +
      `final wait ${settleSeconds}s${options.settleSeconds === undefined ? ` (a poison command ends dead within ${deadWithin}s)` : ''}`,
  );
  // --- The brokers, when part of the workload goes through them: the run's own queue and streams, deleted
  // at the end.
  const history = createHistory(path.join(dir, 'history.jsonl'));
  let feed: BrokerFeed | undefined;
  if (options.brokers.length > 0) {
    const created = await createBrokerFeed({ brokers: options.brokers, databaseUrl: url, history, hostname: hostname() });
    feed = created;
    undo.push(() => created.close());
    say(
      `chaos: brokers ${options.brokers.join(', ')} take ${Math.round(options.brokerShare * 100)}% of the paced commands, ${options.inboxes} inbox processes; ` +
        `client ids ${options.brokers.map((b) => created.clientIds[b]).join(', ')}`,
    );
  }
  let events: EventCollector | undefined;
  if (options.relay) {
    const created = await createEventCollector();
    events = created;
    undo.push(() => created.close());
    say(`chaos: the outbox relay publishes to the Redis stream ${created.env['RELAY_STREAM']}`);
  }
  const unplanned: UnplannedExit[] = [];
  let shuttingDown = false;
  const onUnplannedExit = (exit: UnplannedExit) => {
    unplanned.push(exit);
    say(
      `chaos: UNPLANNED EXIT of ${exit.name} (pid ${exit.pid}, code ${exit.code}, signal ${exit.signal}): ${exit.tail.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`,
    );
    if (!shuttingDown) {
      const proc = all.find((p) => p.name === exit.name);
      setTimeout(() => void proc?.start().catch(() => {}), 1000);
    }
  };
  const api: ManagedProcess = createManagedProcess({
    name: 'api',
    entry: 'api',
    env: { ...common, DATABASE_URL: apiUrl, ...direct(url), PORT: String(apiPort) },
    logDir,
    onUnplannedExit,
  });
  const workers: ManagedProcess[] = Array.from({ length: options.workers }, (_, i) =>
    createManagedProcess({
      name: `worker-${i + 1}`,
      entry: 'worker',
      env: { ...common, DATABASE_URL: workerUrl, ...direct(proxiedUrl), PORT: '0', WORKER_CONCURRENCY: String(options.concurrency) },
      logDir,
      onUnplannedExit,
    }),
  );
  // Inbox processes: the same env as `npm run inbox`, through the proxy like the workers (so PostgreSQL faults
  // reach their submissions too); each keeps its Redis consumer name across restarts, as docs/brokers.md asks.
  const inboxes: ManagedProcess[] = feed
    ? Array.from({ length: options.inboxes }, (_, i) =>
        createManagedProcess({
          name: `inbox-${i + 1}`,
          entry: 'inbox',
          env: {
            ...common,
            DATABASE_URL: workerUrl,
            ...direct(proxiedUrl),
            PORT: '0',
            ...feed.env,
            ...(feed.env['INBOX_REDIS_URL'] ? { INBOX_REDIS_CONSUMER: `chaos-inbox-${i + 1}` } : {}),
          },
          logDir,
          onUnplannedExit,
        }),
      )
    : [];
  const relay = events
    ? createManagedProcess({
        name: 'relay',
        entry: 'relay',
        env: { ...common, DATABASE_URL: workerUrl, ...direct(proxiedUrl), PORT: '0', ...events.env },
        logDir,
        onUnplannedExit,
      })
    : undefined;
  const all = [api, ...workers, ...inboxes, ...(relay ? [relay] : [])];
  undo.push(async () => {
    shuttingDown = true;
    await Promise.all(all.map((proc) => proc.terminate(10_000)));
  });
  if (proxy) undo.push(() => proxy.close());
  await api.start();
  await Promise.all([...workers, ...inboxes, ...(relay ? [relay] : [])].map((proc) => proc.start()));
  say(
    `chaos: api on http://127.0.0.1:${apiPort}, ${workers.length} workers${inboxes.length > 0 ? ` and ${inboxes.length} inbox processes` : ''}` +
      `${proxy ? ` through the proxy on 127.0.0.1:${proxy.port}` : ''}${bouncer ? `, every process through PgBouncer (transaction pooling) on 127.0.0.1:${bouncer.port}` : ''}`,
  );

  // --- Workload and nemesis side by side.
  const client = createChaosClient(`http://127.0.0.1:${apiPort}`, history);
  let workloadDone = false;
  let pacedShare = 0;
  let workloadEndedAt = 0;
  // The nemesis starts no fault once the workload is in its calm tail: the last 15% of its paced commands
  // (at least 15% of the duration when the workload keeps its pace), so the run can measure how soon every
  // command ends after the last fault.
  const CALM_TAIL_SHARE = 0.85;
  let fireBurst: ((reason: string) => void) | undefined;
  const burstFaults = new Set<string>();
  const progress = setInterval(() => {
    const counts = history.counts();
    say(
      `chaos: t=${((Date.now() - started) / 1000).toFixed(0)}s ${history.commands.size} commands, ops ok ${counts.ok} failed ${counts.failed} unknown ${counts.unknown}`,
    );
  }, 15_000);
  const nemesisLog = (line: string) => say(`chaos: ${line}`);
  // Garbage for the dead-letter paths: some at the start, some midway (into the faults).
  const garbageRuns = feed ? [feed.publishGarbage(GARBAGE_PER_BROKER), sleep(options.durationMs / 2).then(() => feed.publishGarbage(GARBAGE_PER_BROKER))] : [];
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
      bursts: options.bursts,
      faultBursts: options.faultBursts,
      burstSize: options.burstSize,
      burstInFlight: options.burstInFlight,
      burstTrigger: (fire) => {
        fireBurst = fire;
      },
      onProgress: (share) => {
        pacedShare = share;
      },
      feed: feed
        ? {
            brokers: feed.brokers,
            share: options.brokerShare,
            publish: (broker, envelope, deadline) => feed.publish(broker, envelope, deadline),
            outcome: (broker, id, deadline) => feed.outcome(broker, id, deadline),
          }
        : undefined,
    }).finally(() => {
      workloadDone = true;
      workloadEndedAt = Date.now();
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
      expireSeconds: config.JOB_EXPIRE_SECONDS,
      inboxes,
      relay,
      ...(feed && faults.has('broker') && (feed.brokers.includes('rabbitmq') || feed.brokers.includes('redis'))
        ? {
            cutBrokers: async (r) => {
              const own = feed.brokers.filter((b): b is 'rabbitmq' | 'redis' => b === 'rabbitmq' || b === 'redis');
              const broker = r.pick(own);
              const pids = inboxes.map((inbox) => inbox.pid).filter((pid): pid is number => pid !== undefined);
              const closed = await feed.cut(broker, pids).catch(() => 0);
              return { closed, what: `closed ${closed} inbox connections on ${broker} from the broker's side` };
            },
          }
        : {}),
      log: nemesisLog,
      origin: started,
      active: () => !workloadDone && pacedShare < CALM_TAIL_SHARE,
      // A burst goes into the first worker SIGKILL and into every PostgreSQL restart (up to --fault-bursts).
      onFault: (event) => {
        if (event === 'restart-postgres' || (event === 'kill-worker' && !burstFaults.has(event))) {
          burstFaults.add(event);
          fireBurst?.(`into ${event === 'kill-worker' ? 'a worker SIGKILL' : 'a PostgreSQL restart'}`);
        }
      },
    }),
  ]);
  clearInterval(progress);
  await Promise.all(garbageRuns);
  say(
    `chaos: workload done: ${workload.issued} commands in ${(workload.elapsedMs / 1000).toFixed(0)}s (${workload.scenarios} scenarios, ${workload.poison} poison, ${workload.bursts.length} bursts)`,
  );
  if (workload.unsupportedTypes.length > 0) say(`chaos: note: skipped command types the API does not know: ${workload.unsupportedTypes.join(', ')}`);

  // --- Heal everything, then a quiet period for the system to finish what it accepted.
  proxy?.heal();
  for (const proc of all) {
    proc.resume();
    if (!proc.running) await proc.start();
  }
  const healedAt = Math.max(Date.now(), stats.lastHealedAt ?? 0);
  const checkerDb = new pg.Client({ connectionString: url, application_name: 'oncely-chaos-checker' });
  checkerDb.on('error', () => {});
  await checkerDb.connect();
  // Broker-fed commands whose publish was confirmed must also be stored (the inbox may still be taking them).
  const published = feed
    ? [...history.commands.values()]
        .filter((record) => record.via && record.ops.some((op) => op.kind === 'publish' && op.outcome === 'ok'))
        .map((record) => `${feed.clientIds[record.via as BrokerName]} ${record.envelope.id}`)
    : [];
  const nonTerminal = async () => {
    const open = (await checkerDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE status IN ('queued', 'retrying')`)).rows[0]?.n ?? -1;
    const stored =
      (await checkerDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE (client_id || ' ' || id) = ANY($1)`, [published])).rows[0]?.n ?? 0;
    const unsent = relay ? ((await checkerDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.outbox_events WHERE sent_at IS NULL`)).rows[0]?.n ?? 0) : 0;
    return open + published.length - stored + unsent;
  };
  let left = await nonTerminal();
  while (left > 0 && Date.now() - healedAt < settleSeconds * 1000) {
    await sleep(500);
    left = await nonTerminal();
  }
  say(
    `chaos: quiet period: ${left === 0 ? 'every command terminal' : `${left} commands still not terminal`} ${((Date.now() - healedAt) / 1000).toFixed(1)}s after the last fault`,
  );
  // Let in-flight acknowledgements and sessions settle before reading.
  await sleep(2000);
  const clientIds = ['anonymous', ...(feed ? feed.brokers.map((b) => feed.clientIds[b]) : [])];
  const state = await readFinalState(checkerDb, clientIds);
  const storedEvents = relay
    ? (
        await checkerDb.query<StoredEvent>(
          `SELECT e.id, e.entity_id, e.sequence::float8 AS sequence, c.status FROM oncely.outbox_events e
             LEFT JOIN oncely.commands c ON c.client_id = e.client_id AND c.id = e.command_id WHERE e.client_id = ANY($1) ORDER BY e.sequence`,
          [clientIds],
        )
      ).rows
    : [];
  // The recovery figure, and what the late commands (if any) went through, from their rows and their jobs.
  const recoveryInput = { lastFaultAt: stats.lastFaultAt, limitSeconds: terminalWithin, startedAt: started };
  const recovery = recoveryFigure(history, state, recoveryInput);
  const lateReport = await describeLate(
    checkerDb,
    recovery.late.slice(0, 50).map((row) => row.id),
    recovery.from,
    started,
  );
  const ready = await fetch(`http://127.0.0.1:${apiPort}/health/ready`).then(
    (res) => res.status,
    () => 0,
  );
  await checkerDb.end();

  // --- Stop everything the run started.
  shuttingDown = true;
  let uncleanStops = 0;
  const codes = await Promise.all(all.map((proc) => proc.terminate(30_000)));
  for (const [i, code] of codes.entries()) {
    if (code !== 0) {
      uncleanStops++;
      say(`chaos: ${all[i]?.name} exited with ${code ?? 'SIGKILL'} on SIGTERM`);
    }
  }
  // What the brokers hold once every inbox has stopped: dead letters, and anything never acknowledged.
  const brokerInput = feed
    ? { clientIds: feed.clientIds, garbage: feed.garbage(), deadLetters: await feed.deadLetters(), pending: await feed.pending(), lastFaultAt: stats.lastFaultAt }
    : undefined;
  await feed?.close();
  const publishedEvents = events ? await events.read() : [];
  await events?.close();
  await proxy?.close();
  await bouncer?.stop();
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
    if (key === TERMINAL_WITHIN) continue;
    const count = REQUIREMENTS[key]?.(stats, proxy) ?? 0;
    extra.push({ name: `faults injected: ${key} (at least ${minimum})`, value: String(count), ok: count >= minimum });
  }
  const figures = checkRun({
    history,
    state,
    settleSeconds,
    unplannedExits: unplanned.length,
    uncleanStops,
    extra,
    recovery: recoveryInput,
    ...(brokerInput ? { brokers: brokerInput } : {}),
  });
  if (relay) figures.push(...relayFigures(storedEvents, publishedEvents));
  const summary = historySummary([...history.commands.values()]);
  const counts = history.counts();
  const proxyStats = proxy?.stats();
  say('');
  say(
    `history: ${summary.commands} commands, ${summary.ops} operations (ok ${counts.ok}, failed ${counts.failed}, unknown ${counts.unknown}), ${summary.resent} sent more than once, ${summary.unknownOnly} never answered`,
  );
  say(
    `faults: worker kills ${stats.workerKills}, api kills ${stats.apiKills}, worker SIGSTOPs ${stats.workerStops}, PostgreSQL restarts ${stats.postgresRestarts}, ` +
      `terminate sweeps ${stats.terminateSweeps} (${stats.backendsTerminated} sessions), COMMIT cuts ${proxyStats?.commitCuts ?? 0}, ` +
      `resets ${stats.resetConnections}, black holes ${stats.blackholedConnections}, latency spells ${stats.latencySpells}` +
      (feed ? `, inbox kills ${stats.inboxKills}, broker cuts ${stats.brokerCuts} (${stats.brokerConnectionsClosed} connections)` : '') +
      (relay ? `, relay kills ${stats.relayKills}` : ''),
  );
  if (feed) {
    const fed = [...history.commands.values()].filter((record) => record.via);
    const publishes = fed.flatMap((record) => record.ops.filter((op) => op.kind === 'publish'));
    say(
      `brokers: ${fed.length} commands published (${feed.brokers.map((b) => `${b} ${fed.filter((r) => r.via === b).length}`).join(', ')}), ${publishes.length} publishes ` +
        `(${publishes.filter((op) => op.outcome === 'unknown').length} unconfirmed), ${fed.filter((r) => r.ops.filter((op) => op.kind === 'publish').length > 1).length} published more than once, ` +
        `${feed.garbage().length} garbage messages`,
    );
  }
  const at = (ms: number) => `t=${((ms - started) / 1000).toFixed(1)}s`;
  // How long each burst took to drain: from its firing to the last of its commands terminal.
  const drained = (index: number) => {
    let last = 0;
    for (const [id, row] of state.commands) if (id.startsWith(`b${index}-`) && typeof row.completed_ms === 'number') last = Math.max(last, row.completed_ms);
    return last;
  };
  say(
    `bursts: ${
      workload.bursts
        .map((b) => {
          // The same question as the figure, for this burst alone: from the later of its last send and the
          // last fault that ended before it drained, to its last command terminal.
          const end = drained(b.index);
          const faultEnd = Math.max(0, ...stats.timeline.filter((f) => f.endedAt <= end && f.endedAt >= b.firedAt).map((f) => f.endedAt));
          const from = Math.max(b.sentAt, faultEnd);
          return (
            `${b.commands} ${b.reason} at ${at(b.firedAt)} (sent in ${((b.sentAt - b.firedAt) / 1000).toFixed(1)}s, all terminal in ${((end - b.firedAt) / 1000).toFixed(1)}s, ` +
            `${((end - from) / 1000).toFixed(1)}s after ${from === b.sentAt ? 'its last send' : 'the last fault during it'})`
          );
        })
        .join('; ') || 'none'
    }`,
  );
  say(
    `last fault: ${
      stats.timeline.length > 0
        ? (() => {
            const last = stats.timeline.reduce((a, b) => (b.endedAt > a.endedAt ? b : a));
            return `${last.event} ended ${at(last.endedAt)}`;
          })()
        : 'none'
    }; workload ended ${at(workloadEndedAt)}${stats.lastFaultAt ? ` (calm tail ${((workloadEndedAt - stats.lastFaultAt) / 1000).toFixed(1)}s)` : ''}`,
  );
  if (lateReport.length > 0) {
    say(`late commands (terminal more than ${terminalWithin}s after ${at(recovery.from)}, or never), latest first:`);
    for (const line of lateReport.slice(0, 10)) say(`  ${line}`);
  }
  if (state.redelivered) {
    say(`redeliveries: ${state.redelivered.commands} commands (poison aside) ended after more than one attempt, at most ${state.redelivered.maxAttempts} attempts`);
  }
  for (const fig of figures) say(`${fig.ok ? 'PASS' : 'FAIL'}  ${fig.name}: ${fig.value}`);
  const failed = figures.filter((fig) => !fig.ok).length;
  const passed = figures.length - failed;
  await writeFile(
    path.join(dir, 'summary.json'),
    JSON.stringify(
      {
        options: { ...options, faults: [...faults], require: Object.fromEntries(options.require) },
        config: { ...config, API_KEYS: undefined },
        settleSeconds,
        workload,
        stats,
        proxy: proxyStats,
        recovery: { ...recovery, late: lateReport },
        figures,
        unplanned,
      },
      null,
      2,
    ),
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

/**
 * One line per late command: its row (type, entity, status, attempts, failures, error, when it was created
 * and ended relative to the start of the recovery window) and its pg-boss jobs (state, retries, when each
 * was created, due, started, completed).
 */
async function describeLate(db: pg.Client, ids: string[], from: number, started: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const rel = (ms: number | null) => (ms === null ? '-' : `t=${((ms - started) / 1000).toFixed(1)}s`);
  const { rows } = await db.query<{
    id: string;
    type: string;
    entity_id: string;
    status: string;
    attempts: number;
    failures: number;
    error: unknown;
    created_ms: number;
    completed_ms: number | null;
  }>(
    `SELECT id, type, entity_id, status, attempts, failures, error, (extract(epoch FROM submitted_at) * 1000)::float8 AS created_ms,
            (extract(epoch FROM completed_at) * 1000)::float8 AS completed_ms
       FROM oncely.commands WHERE client_id = 'anonymous' AND id = ANY($1) ORDER BY completed_at DESC NULLS FIRST`,
    [ids],
  );
  const jobs = await db
    .query<{
      id: string;
      name: string;
      size: number;
      state: string;
      retry_count: number;
      created_ms: number;
      start_after_ms: number;
      started_ms: number | null;
      completed_ms: number | null;
    }>(
      // A job carries one command ({clientId, id}) or several ({commands: [...]}).
      `SELECT coalesce(c.ref->>'id', j.data->>'id') AS id, j.name, coalesce(jsonb_array_length(j.data->'commands'), 1) AS size, j.state::text AS state, j.retry_count,
              (extract(epoch FROM j.created_on) * 1000)::float8 AS created_ms, (extract(epoch FROM j.start_after) * 1000)::float8 AS start_after_ms,
              (extract(epoch FROM j.started_on) * 1000)::float8 AS started_ms, (extract(epoch FROM j.completed_on) * 1000)::float8 AS completed_ms
         FROM pgboss.job j
         LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(j.data->'commands') = 'array' THEN j.data->'commands' ELSE '[]'::jsonb END) AS c(ref) ON true
        WHERE coalesce(c.ref->>'id', j.data->>'id') = ANY($1) ORDER BY j.created_on`,
      [ids],
    )
    .then(
      (result) => result.rows,
      (err: Error) => [
        {
          id: '',
          name: `pgboss.job unreadable: ${err.message}`,
          size: 0,
          state: '',
          retry_count: 0,
          created_ms: 0,
          start_after_ms: 0,
          started_ms: null,
          completed_ms: null,
        },
      ],
    );
  return rows.map((row) => {
    const own = jobs.filter((job) => job.id === row.id);
    const late = row.completed_ms === null ? 'never' : `${((row.completed_ms - from) / 1000).toFixed(1)}s after the window opened`;
    return (
      `${row.id} ${row.type} ${row.entity_id}: ${row.status} (${late}), attempts ${row.attempts}, failures ${row.failures}, created ${rel(row.created_ms)}, ended ${rel(row.completed_ms)}` +
      `, error ${JSON.stringify(row.error)?.slice(0, 200)}; jobs: ` +
      own
        .map(
          (job) =>
            `[${job.name} (${job.size} commands) ${job.state} retry ${job.retry_count} created ${rel(job.created_ms)} due ${rel(job.start_after_ms)} started ${rel(job.started_ms)} done ${rel(job.completed_ms)}]`,
        )
        .join(' ')
    );
  });
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
