// The chaos run's command line: its options, their defaults and checks, and what --require may ask for.
import { parseArgs } from 'node:util';
import type { Config } from '../src/config.ts';
import { BROKER_NAMES, type BrokerName } from './brokers.ts';
import { FAULT_KINDS, type FaultKind, type NemesisStats } from './nemesis.ts';
import type { ChaosProxy } from './proxy.ts';

export const USAGE = `usage: npm run chaos -- [options]
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
                       worker-stops, terminate-sweeps, inbox-kills, broker-cuts, relay-kills, failovers), and
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
  --failover MODE      sync or async: PostgreSQL 15 as a primary and a streaming standby (synchronous or
                       asynchronous replication, the WAL through a link with --replication-latency MS each way,
                       default 20), every process and the harness reaching it through proxies; once during the
                       load the primary is SIGKILLed, the standby promoted and the proxies moved to it
                       (docs/chaos.md, "Failover"); --wal-partition MS first drops the WAL link for MS
                       before the kill (default 0)
  --pooler P           none (default) or pgbouncer: the api, workers and inboxes reach PostgreSQL through a
                       PgBouncer in transaction pooling mode (DATABASE_URL), with DATABASE_DIRECT_URL for
                       what needs a session (docs/operations.md, "Behind a pooler")
  --keep               keep the run directory (logs, history) even when every figure holds`;

/**
 * The run's options from the command line; throws with a one-line reason on a bad one.
 *
 * @example
 * const options = parseOptions(['--seed', '1', '--commands', '5000']);
 */
export function parseOptions(args: string[] = process.argv.slice(2)) {
  const { values } = parseArgs({
    args,
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
      failover: { type: 'string', default: 'none' },
      'replication-latency': { type: 'string', default: '20' },
      'wal-partition': { type: 'string', default: '0' },
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
  if (!['none', 'sync', 'async'].includes(values.failover)) throw new Error('--failover must be sync, async or none');
  if (values.failover !== 'none' && values['database-url']) throw new Error('--failover runs its own primary and standby: it cannot use --database-url');
  // A failover needs a standby: without --failover the fault has nothing to act on.
  if (values.failover === 'none') faults.delete('failover');
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
    failover: values.failover === 'none' ? undefined : values.failover === 'sync' ? ('synchronous' as const) : ('asynchronous' as const),
    replicationLatencyMs: int('replication-latency', values['replication-latency'], 0, 1000),
    walPartitionMs: int('wal-partition', values['wal-partition'], 0, 60_000),
  };
}

export type Options = ReturnType<typeof parseOptions>;

/** The --require key that bounds "every command (poison aside) terminal within S s of the last fault". */
export const TERMINAL_WITHIN = 'terminal-within';
export const DEFAULT_TERMINAL_WITHIN_SECONDS = 10;

/**
 * How long a poison command (a handler that always throws) may take to end dead, with the processes'
 * configuration: RETRY_LIMIT handler failures, the backoff 1, 2, 4, ... s capped at RETRY_DELAY_MAX_SECONDS
 * between them (src/processor/apply.ts, recordFailure), each retry found by the backstop poll
 * (POLL_INTERVAL_SECONDS) and run (a second), plus one takeover of an expired job (a killed worker's:
 * JOB_EXPIRE_SECONDS + SUPERVISE_INTERVAL_SECONDS) and a margin.
 */
export function deadWithinSeconds(
  config: Pick<Config, 'RETRY_LIMIT' | 'RETRY_DELAY_MAX_SECONDS' | 'POLL_INTERVAL_SECONDS' | 'JOB_EXPIRE_SECONDS' | 'SUPERVISE_INTERVAL_SECONDS'>,
): number {
  let backoff = 0;
  for (let failures = 1; failures < config.RETRY_LIMIT; failures++) backoff += Math.min(config.RETRY_DELAY_MAX_SECONDS, 2 ** (failures - 1));
  const perAttempt = config.POLL_INTERVAL_SECONDS + 1;
  return Math.ceil(backoff + config.RETRY_LIMIT * perAttempt + config.JOB_EXPIRE_SECONDS + config.SUPERVISE_INTERVAL_SECONDS + 10);
}

export const REQUIREMENTS: Record<string, (stats: NemesisStats, proxy: ChaosProxy | undefined) => number> = {
  'worker-kills': (stats) => stats.workerKills,
  'api-kills': (stats) => stats.apiKills,
  'worker-stops': (stats) => stats.workerStops,
  'pg-restarts': (stats) => stats.postgresRestarts,
  'terminate-sweeps': (stats) => stats.terminateSweeps,
  'commit-cuts': (_, proxy) => proxy?.stats().commitCuts ?? 0,
  'inbox-kills': (stats) => stats.inboxKills,
  'broker-cuts': (stats) => stats.brokerCuts,
  'relay-kills': (stats) => stats.relayKills,
  failovers: (stats) => stats.failovers,
};
