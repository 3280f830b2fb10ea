// `npm run chaos`: a Jepsen-style run of the real program under faults, with a history, a checker and a
// verdict. See docs/chaos.md. The run is five phases: set up (PostgreSQL, proxies, processes), load and
// faults side by side, settle (heal, then wait for every command to end), check (the history against the
// final state) and report.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os, { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { parseConfig, type Config } from '../src/config.ts';
import { EmbeddedPostgresError, freePort } from '../src/db/embedded.ts';
import { runMigrations } from '../src/db/migrate.ts';
import { referenceDomains } from '../src/domains/index.ts';
import { createBrokerFeed, createEventCollector, type BrokerFeed, type BrokerName, type EventCollector } from './brokers.ts';
import { checkRun, readFinalState, recoveryFigure, relayFigures, type Figure, type FinalState, type RecoveryInput, type StoredEvent } from './checker.ts';
import { createChaosClient, type ChaosClient } from './client.ts';
import { createFailoverFault, type FailoverRecord } from './failover.ts';
import { createHistory, type History } from './history.ts';
import { describeMemory, sampleMemory, type MemorySample } from './memory.ts';
import { runNemesis, type FaultKind, type NemesisStats, type Restartable } from './nemesis.ts';
import { DEFAULT_TERMINAL_WITHIN_SECONDS, REQUIREMENTS, TERMINAL_WITHIN, USAGE, deadWithinSeconds, parseOptions, type Options } from './options.ts';
import { startPgBouncer, type PgBouncer } from './pgbouncer.ts';
import { startChaosPostgres } from './postgres.ts';
import type { Random } from './random.ts';
import { createManagedProcess, type ManagedProcess, type UnplannedExit } from './processes.ts';
import { startChaosProxy, type ChaosProxy } from './proxy.ts';
import { startReplicatedPair, type ReplicatedPair } from './replication.ts';
import { describeLate, printReport, restartRecoveryFigure } from './report.ts';
import { runWorkload, type WorkloadResult } from './workload.ts';

const sh = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Garbage messages (bad JSON, an unknown type) per broker, published twice in the run: at the start and midway. */
const GARBAGE_PER_BROKER = 3;
/** Every command sent before a promotion must be terminal within this many seconds of it. */
const FAILOVER_TERMINAL_SECONDS = 30;
/**
 * The nemesis starts no fault once the workload is in its calm tail: the last 15% of its paced commands (at
 * least 15% of the duration when the workload keeps its pace), so the run can measure how soon every command
 * ends after the last fault.
 */
const CALM_TAIL_SHARE = 0.85;
const MEMORY_SAMPLE_MS = 10_000;

/** What to undo if the run itself breaks or is interrupted: processes, proxy, server. Last in, first out. */
const undo: (() => Promise<unknown>)[] = [];

async function undoAll(): Promise<void> {
  for (const step of undo.splice(0).reverse()) await step().catch(() => {});
}

interface Run {
  options: Options;
  /** The faults that can act in this run (the options' list, less what the setup cannot do). */
  faults: Set<FaultKind>;
  started: number;
  dir: string;
  logDir: string;
  say: (line: string) => void;
}

interface Database {
  /** The server's admin URL (database `postgres`), as the run reaches it. */
  serverUrl: string;
  database: string;
  /** The run's database, as the harness and the api reach it. */
  url: string;
  restartable: Restartable | undefined;
  /** The primary and standby of a --failover run, and the proxy every direct connection goes through. */
  pair: ReplicatedPair | undefined;
  route: ChaosProxy | undefined;
  /** Stops the server the run started, or drops the run's database from the server it was given. */
  dispose(keepDatabase: boolean): Promise<void>;
}

interface Stack {
  config: Config;
  settleSeconds: number;
  terminalWithin: number;
  proxy: ChaosProxy | undefined;
  bouncer: PgBouncer | undefined;
  apiPort: number;
  history: History;
  client: ChaosClient;
  feed: BrokerFeed | undefined;
  events: EventCollector | undefined;
  api: ManagedProcess;
  workers: ManagedProcess[];
  inboxes: ManagedProcess[];
  relay: ManagedProcess | undefined;
  all: ManagedProcess[];
  unplanned: UnplannedExit[];
  /** SIGTERMs every process (no more restarts of unplanned exits); resolves with how many did not exit 0. */
  stop(): Promise<number>;
}

interface Loaded {
  workload: WorkloadResult;
  stats: NemesisStats;
  loadStartedAt: number;
  workloadEndedAt: number;
  failover: FailoverRecord | undefined;
  memory: MemorySample[];
}

interface Settled {
  state: FinalState;
  storedEvents: StoredEvent[];
  recovery: ReturnType<typeof recoveryFigure>;
  recoveryInput: RecoveryInput;
  late: string[];
  ready: number;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions();
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const run = await openRun(options);
  const db = await setUpDatabase(run);
  const stack = await startStack(run, db);
  const loaded = await loadUnderFaults(run, db, stack);
  const settled = await settle(run, db, stack, loaded);
  const figures = await check(run, stack, loaded, settled);
  return finish(run, db, stack, loaded, settled, figures);
}

// --- Set up

async function openRun(options: Options): Promise<Run> {
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
  return { options, faults, started, dir, logDir, say };
}

/** PostgreSQL: our own (embedded, or a replicated pair for --failover), or a fresh database on the server we were given. */
async function setUpDatabase(run: Run): Promise<Database> {
  const { options, say } = run;
  const server = options.failover ? await startPair(run) : options.databaseUrl ? givenServer(run, options.databaseUrl) : await startEmbedded(run);
  const database = options.databaseUrl ? `oncely_chaos_${options.seed}_${process.pid}` : 'oncely_chaos';
  const admin = new pg.Client({ connectionString: server.serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const dropDatabase = async () => {
    const cleanup = new pg.Client({ connectionString: server.serverUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => cleanup.end());
  };
  if (!server.stop) undo.push(dropDatabase);
  const url = databaseUrlFor(server.serverUrl, database);
  await runMigrations(url, { domains: referenceDomains });
  return {
    ...server,
    database,
    url,
    async dispose(keepDatabase) {
      if (server.stop) await server.stop();
      else if (keepDatabase) say(`chaos: database ${database} kept on ${new URL(server.serverUrl).host} for inspection`);
      else await dropDatabase().catch(() => {});
    },
  };
}

type Server = Pick<Database, 'serverUrl' | 'restartable' | 'pair' | 'route'> & { stop?: () => Promise<void> };

function givenServer(run: Run, serverUrl: string): Server {
  const { options } = run;
  if (!options.mayRestart || !options.stopCommand || !options.startCommand) {
    if (run.faults.delete('restart')) run.say('chaos: note: no PostgreSQL restarts against --database-url without --may-restart');
    return { serverUrl, restartable: undefined, pair: undefined, route: undefined };
  }
  const stop = options.stopCommand;
  const start = options.startCommand;
  const restartable: Restartable = {
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
  return { serverUrl, restartable, pair: undefined, route: undefined };
}

async function startEmbedded(run: Run): Promise<Server> {
  const server = await startChaosPostgres({ dir: path.join(run.dir, 'pg', 'data'), log: createLogFile(path.join(run.logDir, 'postgres.log')) });
  undo.push(() => server.stop());
  run.say(`chaos: embedded PostgreSQL 18 on 127.0.0.1:${server.port}`);
  return { serverUrl: server.url, restartable: server, pair: undefined, route: undefined, stop: () => server.stop() };
}

/**
 * A primary and a streaming standby (chaos/replication.ts). Everything that does not go through the fault
 * proxy (the api, the harness's own sessions) goes through `route`, a proxy without faults that the failover
 * moves to the promoted standby, as a virtual IP or a DNS switch would.
 */
async function startPair(run: Run): Promise<Server> {
  const mode = run.options.failover ?? 'synchronous';
  const pair = await startReplicatedPair(mode, { replicationLatencyMs: run.options.replicationLatencyMs, log: (line) => run.say(`chaos: ${line}`) });
  undo.push(() => pair.stop());
  const route = await startChaosProxy({ targetPort: pair.primaryPort });
  undo.push(() => route.close());
  run.say(`chaos: PostgreSQL 15 primary and ${mode} standby, reached through 127.0.0.1:${route.port}`);
  const stop = async () => {
    await route.close();
    await pair.stop();
  };
  return { serverUrl: `postgres://postgres@127.0.0.1:${route.port}/postgres`, restartable: pair, pair, route, stop };
}

/** The proxy between the processes and PostgreSQL, PgBouncer if asked for, the brokers, and the processes. */
async function startStack(run: Run, db: Database): Promise<Stack> {
  const { options, faults, say } = run;
  const { url } = db;
  const target = new URL(url);
  const proxy = faults.has('proxy')
    ? await startChaosProxy(db.pair ? { targetPort: db.pair.primaryPort } : { targetPort: Number(target.port || 5432), targetHost: target.hostname })
    : undefined;
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
  say(
    `chaos: processes with JOB_EXPIRE_SECONDS=${config.JOB_EXPIRE_SECONDS} SUPERVISE_INTERVAL_SECONDS=${config.SUPERVISE_INTERVAL_SECONDS} ` +
      `RETRY_LIMIT=${config.RETRY_LIMIT} RETRY_DELAY_MAX_SECONDS=${config.RETRY_DELAY_MAX_SECONDS} POLL_INTERVAL_SECONDS=${config.POLL_INTERVAL_SECONDS}` +
      `${options.expireSeconds === undefined && options.retryLimit === undefined ? ' (production defaults)' : ''}; ` +
      `final wait ${settleSeconds}s${options.settleSeconds === undefined ? ` (a poison command ends dead within ${deadWithin}s)` : ''}`,
  );
  const history = createHistory(path.join(run.dir, 'history.jsonl'));
  const { feed, events } = await startBrokers(run, url, history);

  // Inbox processes: the same env as `npm run inbox`, through the proxy like the workers (so PostgreSQL faults
  // reach their submissions too); each keeps its Redis consumer name across restarts, as docs/brokers.md asks.
  const processes = createProcesses(run, common, {
    api: { DATABASE_URL: apiUrl, ...direct(url), PORT: String(apiPort) },
    worker: { DATABASE_URL: workerUrl, ...direct(proxiedUrl), PORT: '0', WORKER_CONCURRENCY: String(options.concurrency) },
    inboxes: feed
      ? Array.from({ length: options.inboxes }, (_, i) => ({
          DATABASE_URL: workerUrl,
          ...direct(proxiedUrl),
          PORT: '0',
          ...feed.env,
          ...(feed.env['INBOX_REDIS_URL'] ? { INBOX_REDIS_CONSUMER: `chaos-inbox-${i + 1}` } : {}),
        }))
      : [],
    relay: events ? { DATABASE_URL: workerUrl, ...direct(proxiedUrl), PORT: '0', ...events.env } : undefined,
  });
  const { api, workers, inboxes, relay } = processes;
  if (proxy) undo.push(() => proxy.close());
  await api.start();
  await Promise.all([...workers, ...inboxes, ...(relay ? [relay] : [])].map((proc) => proc.start()));
  say(
    `chaos: api on http://127.0.0.1:${apiPort}, ${workers.length} workers${inboxes.length > 0 ? ` and ${inboxes.length} inbox processes` : ''}` +
      `${proxy ? ` through the proxy on 127.0.0.1:${proxy.port}` : ''}${bouncer ? `, every process through PgBouncer (transaction pooling) on 127.0.0.1:${bouncer.port}` : ''}`,
  );
  return {
    config,
    settleSeconds,
    terminalWithin: options.require.get(TERMINAL_WITHIN) ?? DEFAULT_TERMINAL_WITHIN_SECONDS,
    proxy,
    bouncer,
    apiPort,
    history,
    client: createChaosClient(`http://127.0.0.1:${apiPort}`, history),
    feed,
    events,
    ...processes,
  };
}

type Processes = Pick<Stack, 'api' | 'workers' | 'inboxes' | 'relay' | 'all' | 'unplanned' | 'stop'>;

/**
 * The api, the workers, the inbox processes and the relay, each from its entry point with `common` and its
 * own env. An exit nobody asked for is recorded (a figure) and the process started again a second later.
 */
function createProcesses(
  run: Run,
  common: Record<string, string>,
  env: { api: Record<string, string>; worker: Record<string, string>; inboxes: Record<string, string>[]; relay: Record<string, string> | undefined },
): Processes {
  const { say, logDir } = run;
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
  const managed = (name: string, entry: 'api' | 'worker' | 'inbox' | 'relay', own: Record<string, string>) =>
    createManagedProcess({ name, entry, env: { ...common, ...own }, logDir, onUnplannedExit });
  const api = managed('api', 'api', env.api);
  const workers = Array.from({ length: run.options.workers }, (_, i) => managed(`worker-${i + 1}`, 'worker', env.worker));
  const inboxes = env.inboxes.map((own, i) => managed(`inbox-${i + 1}`, 'inbox', own));
  const relay = env.relay ? managed('relay', 'relay', env.relay) : undefined;
  const all = [api, ...workers, ...inboxes, ...(relay ? [relay] : [])];
  const stop = async () => {
    shuttingDown = true;
    let unclean = 0;
    const codes = await Promise.all(all.map((proc) => proc.terminate(30_000)));
    for (const [i, code] of codes.entries()) {
      if (code === 0) continue;
      unclean++;
      say(`chaos: ${all[i]?.name} exited with ${code ?? 'SIGKILL'} on SIGTERM`);
    }
    return unclean;
  };
  undo.push(async () => {
    shuttingDown = true;
    await Promise.all(all.map((proc) => proc.terminate(10_000)));
  });
  return { api, workers, inboxes, relay, all, unplanned, stop };
}

/** The brokers, when part of the workload goes through them, and the relay's event stream: the run's own, deleted at the end. */
async function startBrokers(run: Run, url: string, history: History): Promise<{ feed: BrokerFeed | undefined; events: EventCollector | undefined }> {
  const { options, say } = run;
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
  return { feed, events };
}

// --- Load and faults, side by side

async function loadUnderFaults(run: Run, db: Database, stack: Stack): Promise<Loaded> {
  const { options, say, started } = run;
  const { history, feed } = stack;
  let workloadDone = false;
  let pacedShare = 0;
  let workloadEndedAt = 0;
  let fireBurst: ((reason: string) => void) | undefined;
  const burstFaults = new Set<string>();
  let failover: FailoverRecord | undefined;
  const progress = setInterval(() => {
    const counts = history.counts();
    say(
      `chaos: t=${((Date.now() - started) / 1000).toFixed(0)}s ${history.commands.size} commands, ops ok ${counts.ok} failed ${counts.failed} unknown ${counts.unknown}`,
    );
  }, 15_000);
  const loadStartedAt = Date.now();
  const memory = sampleMemory(() => [stack.api, ...stack.workers], MEMORY_SAMPLE_MS);
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
      client: stack.client,
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
      faults: run.faults,
      workers: stack.workers,
      api: stack.api,
      postgres: db.restartable,
      proxy: stack.proxy,
      databaseUrl: db.url,
      expireSeconds: stack.config.JOB_EXPIRE_SECONDS,
      inboxes: stack.inboxes,
      relay: stack.relay,
      ...brokerCuts(run, stack),
      failover: db.pair
        ? createFailoverFault({
            pair: db.pair,
            database: db.database,
            proxies: [db.route, stack.proxy],
            history,
            client: stack.client,
            partitionMs: options.walPartitionMs,
            onDone: (record) => {
              failover = record;
            },
          })
        : undefined,
      log: (line) => say(`chaos: ${line}`),
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
  if (failover) await failover.resent;
  return { workload, stats, loadStartedAt, workloadEndedAt, failover, memory: memory.stop() };
}

/** The broker fault: close the inbox processes' RabbitMQ or Redis connections from the broker's side. */
function brokerCuts(run: Run, stack: Stack) {
  const feed = stack.feed;
  if (!feed || !run.faults.has('broker') || !(feed.brokers.includes('rabbitmq') || feed.brokers.includes('redis'))) return {};
  return {
    cutBrokers: async (r: Random) => {
      const own = feed.brokers.filter((b): b is 'rabbitmq' | 'redis' => b === 'rabbitmq' || b === 'redis');
      const broker = r.pick(own);
      const pids = stack.inboxes.map((inbox) => inbox.pid).filter((pid): pid is number => pid !== undefined);
      const closed = await feed.cut(broker, pids).catch(() => 0);
      return { closed, what: `closed ${closed} inbox connections on ${broker} from the broker's side` };
    },
  };
}

// --- Settle: heal everything, then a quiet period for the system to finish what it accepted

async function settle(run: Run, db: Database, stack: Stack, loaded: Loaded): Promise<Settled> {
  const { say, started } = run;
  const { history, feed } = stack;
  const { stats } = loaded;
  stack.proxy?.heal();
  for (const proc of stack.all) {
    proc.resume();
    if (!proc.running) await proc.start();
  }
  const healedAt = Math.max(Date.now(), stats.lastHealedAt ?? 0);
  const checkerDb = new pg.Client({ connectionString: db.url, application_name: 'oncely-chaos-checker' });
  checkerDb.on('error', () => {});
  await checkerDb.connect();
  // Broker-fed commands whose publish was confirmed must also be stored (the inbox may still be taking them).
  const published = feed
    ? [...history.commands.values()]
        .filter((record) => record.via && record.ops.some((op) => op.kind === 'publish' && op.outcome === 'ok'))
        .map((record) => `${feed.clientIds[record.via as BrokerName]} ${record.envelope.id}`)
    : [];
  const count = async (sql: string, params: unknown[] = []) => (await checkerDb.query<{ n: number }>(sql, params)).rows[0]?.n;
  // A message whose command is stored may still be unacknowledged: its inbox was SIGKILLed between the commit
  // and the acknowledgement, and the broker hands it out again only after its redelivery time (JetStream's
  // ack_wait, 30 s by default). The redelivery is a duplicate the inbox acknowledges; the run waits for it
  // (within the same bound) rather than stopping the inboxes with the message still out.
  const unacknowledged = async () => {
    if (!feed) return 0;
    const held = Object.values(await feed.pending());
    return held.reduce((sum, n) => sum + (Number.isFinite(n) ? n : 1), 0);
  };
  const nonTerminal = async () => {
    const open = (await count(`SELECT count(*)::int AS n FROM oncely.commands WHERE status IN ('queued', 'retrying')`)) ?? -1;
    const stored = (await count(`SELECT count(*)::int AS n FROM oncely.commands WHERE (client_id || ' ' || id) = ANY($1)`, [published])) ?? 0;
    const unsent = stack.relay ? ((await count(`SELECT count(*)::int AS n FROM oncely.outbox_events WHERE sent_at IS NULL`)) ?? 0) : 0;
    return open + published.length - stored + unsent + (await unacknowledged());
  };
  let left = await nonTerminal();
  while (left > 0 && Date.now() - healedAt < stack.settleSeconds * 1000) {
    await sleep(500);
    left = await nonTerminal();
  }
  say(
    `chaos: quiet period: ${left === 0 ? 'every command terminal' : `${left} commands (or broker messages) still not terminal`} ${((Date.now() - healedAt) / 1000).toFixed(1)}s after the last fault`,
  );
  // Let in-flight acknowledgements and sessions settle before reading.
  await sleep(2000);
  const clientIds = ['anonymous', ...(feed ? feed.brokers.map((b) => feed.clientIds[b]) : [])];
  const state = await readFinalState(checkerDb, clientIds);
  const storedEvents = stack.relay
    ? (
        await checkerDb.query<StoredEvent>(
          `SELECT e.id, e.entity_id, e.sequence::float8 AS sequence, c.status FROM oncely.outbox_events e
             LEFT JOIN oncely.commands c ON c.client_id = e.client_id AND c.id = e.command_id WHERE e.client_id = ANY($1) ORDER BY e.sequence`,
          [clientIds],
        )
      ).rows
    : [];
  // The recovery figure, and what the late commands (if any) went through, from their rows and their jobs.
  const recoveryInput = { lastFaultAt: stats.lastFaultAt, limitSeconds: stack.terminalWithin, startedAt: started };
  const recovery = recoveryFigure(history, state, recoveryInput);
  const late = await describeLate(
    checkerDb,
    recovery.late.slice(0, 50).map((row) => row.id),
    recovery.from,
    started,
  );
  const ready = await fetch(`http://127.0.0.1:${stack.apiPort}/health/ready`).then(
    (res) => res.status,
    () => 0,
  );
  await checkerDb.end();
  return { state, storedEvents, recovery, recoveryInput, late, ready };
}

// --- Check: stop everything the run started, then hold the history against the final state

async function check(run: Run, stack: Stack, loaded: Loaded, settled: Settled): Promise<Figure[]> {
  const { options } = run;
  const { stats, failover } = loaded;
  const uncleanStops = await stack.stop();
  // What the brokers hold once every inbox has stopped: dead letters, and anything never acknowledged.
  const feed = stack.feed;
  const brokers = feed
    ? { clientIds: feed.clientIds, garbage: feed.garbage(), deadLetters: await feed.deadLetters(), pending: await feed.pending(), lastFaultAt: stats.lastFaultAt }
    : undefined;
  await feed?.close();
  const publishedEvents = stack.events ? await stack.events.read() : [];
  await stack.events?.close();
  await stack.proxy?.close();
  await stack.bouncer?.stop();
  await stack.history.close();

  const extra: Figure[] = [{ name: 'API ready (GET /health/ready) at the end', value: String(settled.ready), ok: settled.ready === 200 }];
  if (stats.recoveries.length > 0) extra.push(restartRecoveryFigure(stats.recoveries));
  for (const [key, minimum] of options.require) {
    if (key === TERMINAL_WITHIN) continue;
    const count = REQUIREMENTS[key]?.(stats, stack.proxy) ?? 0;
    extra.push({ name: `faults injected: ${key} (at least ${minimum})`, value: String(count), ok: count >= minimum });
  }
  // A --failover run whose failover never came (the workload ended first) has not shown what it is for.
  if (options.failover && !failover) extra.push({ name: `failover (${options.failover}): the primary killed and the standby promoted`, value: 'never', ok: false });
  const figures = checkRun({
    history: stack.history,
    state: settled.state,
    settleSeconds: stack.settleSeconds,
    unplannedExits: stack.unplanned.length,
    uncleanStops,
    extra,
    recovery: settled.recoveryInput,
    ...(brokers ? { brokers } : {}),
    ...(failover ? { failover: { ...failover, limitSeconds: FAILOVER_TERMINAL_SECONDS } } : {}),
  });
  if (stack.relay) figures.push(...relayFigures(settled.storedEvents, publishedEvents));
  return figures;
}

// --- Report, and leave nothing behind

async function finish(run: Run, db: Database, stack: Stack, loaded: Loaded, settled: Settled, figures: Figure[]): Promise<number> {
  const { options, say, started, dir } = run;
  const { stats, failover, workload } = loaded;
  const notes = [`memory: ${describeMemory(loaded.memory, loaded.loadStartedAt, loaded.workloadEndedAt)}`];
  if (failover) {
    notes.unshift(
      `failover: ${failover.mode}, primary SIGKILLed at t=${((failover.killedAt - started) / 1000).toFixed(1)}s, standby promoted and proxies moved ` +
        `${((failover.promotedAt - failover.killedAt) / 1000).toFixed(1)}s later; of ${failover.acknowledged} acknowledged commands ${failover.missing.length} missing on it ` +
        `(sent again by their clients), ${failover.outcomeLost.length} without the outcome their client was told (applied again by the new primary)`,
    );
  }
  printReport(say, {
    history: stack.history,
    stats,
    proxy: stack.proxy?.stats(),
    brokers: stack.feed ? { names: stack.feed.brokers, garbage: stack.feed.garbage().length } : undefined,
    relay: stack.relay !== undefined,
    workload,
    state: settled.state,
    started,
    workloadEndedAt: loaded.workloadEndedAt,
    terminalWithin: stack.terminalWithin,
    recoveryFrom: settled.recovery.from,
    late: settled.late,
    notes,
    figures,
  });
  const failed = figures.filter((fig) => !fig.ok).length;
  const passed = figures.length - failed;
  await writeFile(
    path.join(dir, 'summary.json'),
    JSON.stringify(
      {
        options: { ...options, faults: [...run.faults], require: Object.fromEntries(options.require) },
        config: { ...stack.config, API_KEYS: undefined },
        settleSeconds: stack.settleSeconds,
        workload,
        stats,
        proxy: stack.proxy?.stats(),
        recovery: { ...settled.recovery, late: settled.late },
        failover: failover ? { ...failover, resent: undefined } : undefined,
        memory: loaded.memory,
        figures,
        unplanned: stack.unplanned,
      },
      null,
      2,
    ),
  );

  undo.length = 0;
  await db.dispose(failed > 0 || options.keep);
  if (failed === 0 && !options.keep) await rm(dir, { recursive: true, force: true });
  else say(`chaos: logs, history.jsonl and summary.json kept in ${dir}`);
  say(`chaos: seed ${options.seed}, ${((Date.now() - started) / 1000).toFixed(0)}s in all`);
  say(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
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
