// The nemesis: faults on a seeded schedule, one at a time, each healed before the next. It only signals the
// processes the run started (by the pid it holds), only crashes the PostgreSQL the run owns (or may
// restart), and only terminates backends of the run's own database.
import pg from 'pg';
import type { ManagedProcess } from './processes.ts';
import type { ChaosProxy } from './proxy.ts';
import { createRandom, type Random } from './random.ts';

/**
 * `inbox` and `broker` act only in a run with --broker (SIGKILL an inbox process, close its broker
 * connections), `relay` only with --relay (SIGKILL the outbox relay), `failover` only with --failover (SIGKILL
 * the primary, promote the standby, move the proxies; once per run).
 */
export const FAULT_KINDS = ['kill', 'stop', 'terminate', 'restart', 'proxy', 'inbox', 'broker', 'relay', 'failover'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

type Event =
  | 'kill-worker'
  | 'kill-api'
  | 'stop-worker'
  | 'terminate'
  | 'restart-postgres'
  | 'commit-cut'
  | 'latency'
  | 'blackhole'
  | 'reset'
  | 'kill-inbox'
  | 'broker-cut'
  | 'kill-relay'
  | 'failover';

export interface NemesisStats {
  workerKills: number;
  apiKills: number;
  workerStops: number;
  terminateSweeps: number;
  backendsTerminated: number;
  postgresRestarts: number;
  latencySpells: number;
  blackholedConnections: number;
  resetConnections: number;
  commitCutsArmed: number;
  /** Inbox processes SIGKILLed (and started again). */
  inboxKills: number;
  /** Times the inbox processes' own broker connections were closed from the broker's side, and how many. */
  brokerCuts: number;
  brokerConnectionsClosed: number;
  /** Outbox relay processes SIGKILLed (and started again). */
  relayKills: number;
  /** Primaries SIGKILLed and replaced by their promoted standby. */
  failovers: number;
  /** Seconds from each PostgreSQL restart to the first command applied after it (null: none within 60 s). */
  recoveries: (number | null)[];
  /** When the last fault was healed (ms since epoch), or undefined if none ran. */
  lastHealedAt: number | undefined;
  /**
   * When the system was last left alone (ms since epoch): the end of the last fault as the system sees it,
   * i.e. a killed process running again, PostgreSQL accepting connections again, a SIGSTOPped worker
   * continued, a sweep or a cut done, latency or a black hole lifted. Unlike lastHealedAt it does not include
   * the nemesis's own measuring after a restart (the wait for the first command applied).
   */
  lastFaultAt: number | undefined;
  /** Every fault as it ran: what, when it began and when it ended (ms since epoch). */
  timeline: { event: string; startedAt: number; endedAt: number }[];
}

/** A PostgreSQL the nemesis may crash and start again. */
export interface Restartable {
  crash(): Promise<void>;
  start(): Promise<void>;
}

export interface NemesisOptions {
  seed: number;
  durationMs: number;
  faults: ReadonlySet<FaultKind>;
  workers: readonly ManagedProcess[];
  api: ManagedProcess;
  postgres: Restartable | undefined;
  proxy: ChaosProxy | undefined;
  /** URL of the run's database, for pg_terminate_backend sweeps. */
  databaseUrl: string;
  /** Workers' JOB_EXPIRE_SECONDS: a stopped worker stays stopped longer than this. */
  expireSeconds: number;
  log: (line: string) => void;
  /**
   * False once no more faults should start: the run is over, or the workload is in its calm tail. The first
   * round of the plan runs regardless (it is planned to end at 85% of the duration, before the tail).
   */
  active: () => boolean;
  /** The run's start (ms since epoch), so the nemesis's t=... stamps match the rest of the run's output. */
  origin?: number;
  /** Inbox processes (broker consumers): SIGKILLed and started again when `inbox` is among the faults. */
  inboxes?: readonly ManagedProcess[];
  /** The outbox relay process, SIGKILLed and started again when `relay` is among the faults. */
  relay?: ManagedProcess | undefined;
  /** Closes the inbox processes' broker connections from the broker's side; says what it did. */
  cutBrokers?: (r: Random) => Promise<{ closed: number; what: string }>;
  /**
   * SIGKILLs the primary, promotes the standby and moves the run's proxies to it; resolves once the promoted
   * standby takes writes through them, with a line saying what it did.
   */
  failover?: (() => Promise<string>) | undefined;
  /** Told when a fault begins (the workload fires an open-loop burst into some of them). */
  onFault?: (event: Event) => void;
}

export type FaultEvent = Event;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seconds until some command is applied (completed) after now, as the server sees it; null if none in `ms`. */
async function firstCommandAfter(databaseUrl: string, ms: number): Promise<number | null> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'oncely-chaos-checker' });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    const since = rows[0]?.now;
    const started = Date.now();
    while (Date.now() - started < ms) {
      const found = await client.query<{ seconds: number }>(
        `SELECT extract(epoch FROM min(updated_at) - $1::timestamptz)::float8 AS seconds FROM oncely.commands
          WHERE updated_at > $1 AND status IN ('succeeded', 'rejected', 'conflict')`,
        [since],
      );
      const seconds = found.rows[0]?.seconds;
      if (seconds !== null && seconds !== undefined) return seconds;
      await sleep(200);
    }
    return null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The seeded list of events: counts follow from the duration, order and timing from the seed. */
export function planFaults(
  seed: number,
  durationMs: number,
  faults: ReadonlySet<FaultKind>,
  brokers: { inboxes: boolean; cuts: boolean; relay?: boolean; failover?: boolean } = { inboxes: false, cuts: false },
): { at: number; event: Event }[] {
  const seconds = durationMs / 1000;
  const every = (interval: number) => Math.max(1, Math.round(seconds / interval));
  const events: Event[] = [];
  const add = (event: Event, count: number) => {
    for (let i = 0; i < count; i++) events.push(event);
  };
  if (faults.has('kill')) {
    add('kill-worker', every(15));
    add('kill-api', every(60));
  }
  if (faults.has('stop')) add('stop-worker', every(45));
  if (faults.has('terminate')) add('terminate', every(30));
  if (faults.has('restart')) add('restart-postgres', every(70));
  if (faults.has('proxy')) {
    add('commit-cut', every(20));
    add('latency', every(40));
    add('blackhole', every(40));
    add('reset', every(30));
  }
  // Added last, so a run without inboxes places every other fault exactly where it did before.
  if (faults.has('inbox') && brokers.inboxes) add('kill-inbox', every(20));
  if (brokers.cuts) add('broker-cut', every(30));
  if (faults.has('relay') && brokers.relay) add('kill-relay', every(20));
  // One failover per run: there is one standby.
  if (faults.has('failover') && brokers.failover) add('failover', 1);
  // Each kind spread evenly over the window (its i-th of n at (i + 0.2..0.8) / n of it), so even a rare
  // kind (two PostgreSQL restarts) never bunches at the end, where the run may cut the plan short for its
  // calm tail. The window ends at 70% of the duration: faults run one at a time and each holds for a while
  // (a SIGSTOP past the expiry, a black hole), so the plan runs late, and the last 15% of the workload
  // must be calm: the run measures how soon every command ends after the last fault.
  const random = createRandom(seed, 3);
  const counts = new Map<Event, number>();
  for (const event of events) counts.set(event, (counts.get(event) ?? 0) + 1);
  const seen = new Map<Event, number>();
  const placed = events.map((event) => {
    const i = seen.get(event) ?? 0;
    seen.set(event, i + 1);
    return { event, position: (i + 0.2 + 0.6 * random.next()) / (counts.get(event) ?? 1) };
  });
  placed.sort((a, b) => a.position - b.position);
  const start = Math.min(5000, durationMs * 0.05);
  const span = durationMs * 0.7 - start;
  return placed.map(({ event, position }) => ({ event, at: Math.round(start + span * position) }));
}

/**
 * Runs the fault schedule; resolves when it is done (all faults healed).
 *
 * @example
 * const stats = await runNemesis({ seed, durationMs, faults, workers, api, postgres, proxy, databaseUrl, expireSeconds: 5, log, active: () => true });
 */
export async function runNemesis(options: NemesisOptions): Promise<NemesisStats> {
  const { log } = options;
  const stats: NemesisStats = {
    workerKills: 0,
    apiKills: 0,
    workerStops: 0,
    terminateSweeps: 0,
    backendsTerminated: 0,
    postgresRestarts: 0,
    latencySpells: 0,
    blackholedConnections: 0,
    resetConnections: 0,
    commitCutsArmed: 0,
    inboxKills: 0,
    brokerCuts: 0,
    brokerConnectionsClosed: 0,
    relayKills: 0,
    failovers: 0,
    recoveries: [],
    lastHealedAt: undefined,
    lastFaultAt: undefined,
    timeline: [],
  };
  /** Marks the moment the system was left alone again (see NemesisStats.lastFaultAt). */
  let faultEndedAt: number;
  const ended = () => {
    faultEndedAt = Date.now();
  };
  const brokerFaults = {
    inboxes: (options.inboxes?.length ?? 0) > 0,
    cuts: options.cutBrokers !== undefined,
    relay: options.relay !== undefined,
    failover: options.failover !== undefined,
  };
  const firstPlan = planFaults(options.seed, options.durationMs, options.faults, brokerFaults);
  const random = createRandom(options.seed, 4);
  const started = options.origin ?? Date.now();
  const stamp = () => `t=${((Date.now() - started) / 1000).toFixed(1)}s`;

  const restart = async (proc: ManagedProcess) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await proc.start();
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        log(`${stamp()} nemesis: ${proc.name} failed to start (${(err as Error).message.slice(0, 200)}); trying again`);
        await sleep(1000);
      }
    }
  };

  /** SIGKILL, down for 200 ms to `maxDownMs`, started again. */
  const killAndRestart = async (proc: ManagedProcess, count: 'workerKills' | 'apiKills' | 'inboxKills' | 'relayKills', maxDownMs: number, r: Random) => {
    const pid = proc.pid;
    await proc.kill();
    stats[count]++;
    log(`${stamp()} nemesis: SIGKILL ${proc.name} (pid ${pid})`);
    await sleep(r.int(200, maxDownMs));
    await restart(proc);
    ended();
  };

  const apply = async (event: Event, r: Random) => {
    const proxy = options.proxy;
    switch (event) {
      case 'kill-worker':
        await killAndRestart(r.pick(options.workers), 'workerKills', 2000, r);
        return;
      case 'kill-api':
        await killAndRestart(options.api, 'apiKills', 1000, r);
        return;
      case 'stop-worker': {
        const worker = r.pick(options.workers);
        const hold = (options.expireSeconds + r.int(1, 4)) * 1000;
        worker.pause();
        stats.workerStops++;
        log(`${stamp()} nemesis: SIGSTOP ${worker.name} (pid ${worker.pid}) for ${hold / 1000}s, past its job expiry`);
        await sleep(hold);
        worker.resume();
        ended();
        log(`${stamp()} nemesis: SIGCONT ${worker.name}`);
        return;
      }
      case 'terminate': {
        const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'oncely-chaos-nemesis' });
        client.on('error', () => {});
        await client.connect();
        try {
          const { rows } = await client.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
               AND application_name <> 'oncely-chaos-checker' ORDER BY pid`,
          );
          const all = r.chance(0.5);
          const chosen = rows.filter(() => all || r.chance(0.5));
          for (const row of chosen) await client.query('SELECT pg_terminate_backend($1)', [row.pid]);
          ended();
          stats.terminateSweeps++;
          stats.backendsTerminated += chosen.length;
          log(`${stamp()} nemesis: pg_terminate_backend on ${chosen.length} of ${rows.length} sessions`);
        } finally {
          await client.end().catch(() => {});
        }
        return;
      }
      case 'restart-postgres': {
        if (!options.postgres) return;
        await options.postgres.crash();
        stats.postgresRestarts++;
        const down = r.int(500, 4000);
        log(`${stamp()} nemesis: PostgreSQL stopped -m immediate, down for ${down / 1000}s`);
        // While PostgreSQL is down the inboxes hold their deliveries unacknowledged: an inbox SIGKILLed now
        // surely dies with messages in hand, which the broker must deliver again (JetStream after ack_wait).
        const inboxes = options.faults.has('inbox') ? (options.inboxes ?? []) : [];
        const victim = inboxes.length > 0 ? r.pick(inboxes) : undefined;
        if (victim) {
          await sleep(Math.min(down / 2, 1000));
          const pid = victim.pid;
          await victim.kill();
          stats.inboxKills++;
          log(`${stamp()} nemesis: SIGKILL ${victim.name} (pid ${pid}) while PostgreSQL is down, its deliveries in hand`);
        }
        await sleep(victim ? down - Math.min(down / 2, 1000) : down);
        await options.postgres.start();
        log(`${stamp()} nemesis: PostgreSQL started again (accepting connections)`);
        if (victim) {
          await restart(victim);
          log(`${stamp()} nemesis: ${victim.name} started again`);
        }
        ended();
        const recovery = await firstCommandAfter(options.databaseUrl, 60_000);
        stats.recoveries.push(recovery);
        log(`${stamp()} nemesis: ${recovery === null ? 'no command applied within 60 s' : `first command applied ${recovery.toFixed(1)}s`} after PostgreSQL came back`);
        return;
      }
      case 'commit-cut': {
        if (!proxy) return;
        const count = r.int(4, 8);
        const before = proxy.stats().commitCuts;
        proxy.armCommitCuts(count);
        stats.commitCutsArmed += count;
        for (let i = 0; i < 100 && proxy.pendingCommitCuts() > 0; i++) await sleep(50);
        proxy.heal();
        ended();
        log(`${stamp()} nemesis: cut ${proxy.stats().commitCuts - before} connections right after forwarding their COMMIT`);
        return;
      }
      case 'latency': {
        if (!proxy) return;
        const ms = r.int(20, 250);
        const hold = r.int(2000, 6000);
        proxy.setLatency(ms);
        stats.latencySpells++;
        log(`${stamp()} nemesis: +${ms} ms latency on every worker connection for ${hold / 1000}s`);
        await sleep(hold);
        proxy.setLatency(0);
        ended();
        return;
      }
      case 'blackhole': {
        if (!proxy) return;
        const hold = r.int(2000, 8000);
        const n = proxy.blackhole(r.int(1, 3), hold, (n) => r.int(0, n - 1));
        stats.blackholedConnections += n;
        log(`${stamp()} nemesis: black-holed ${n} worker connections for ${hold / 1000}s`);
        await sleep(hold + 100);
        ended();
        return;
      }
      case 'kill-inbox':
        await killAndRestart(r.pick(options.inboxes ?? []), 'inboxKills', 2000, r);
        return;
      case 'kill-relay':
        if (options.relay) await killAndRestart(options.relay, 'relayKills', 2000, r);
        return;
      case 'broker-cut': {
        if (!options.cutBrokers) return;
        const { closed, what } = await options.cutBrokers(r);
        stats.brokerCuts++;
        stats.brokerConnectionsClosed += closed;
        ended();
        log(`${stamp()} nemesis: ${what}`);
        return;
      }
      case 'failover': {
        if (!options.failover || stats.failovers > 0) return;
        log(`${stamp()} nemesis: failover: SIGKILL the primary and its backends`);
        const what = await options.failover();
        stats.failovers++;
        ended();
        log(`${stamp()} nemesis: failover: ${what}`);
        return;
      }
      case 'reset': {
        if (!proxy) return;
        const n = proxy.reset(r.int(1, 4), (n) => r.int(0, n - 1));
        stats.resetConnections += n;
        ended();
        log(`${stamp()} nemesis: reset ${n} worker connections`);
        return;
      }
    }
  };

  // While the workload is still running after a round (and not yet in its calm tail), another round of the
  // same mix follows (its own seed stream), so faults go on for as long as commands do. No fault starts
  // once active() says the calm tail has begun, in the first round too.
  // Later rounds have no standby left to promote.
  const laterRounds = { ...brokerFaults, failover: false };
  for (let round = 0, plan = firstPlan; options.active(); plan = planFaults(options.seed + ++round * 7919, options.durationMs, options.faults, laterRounds)) {
    const roundStart = Date.now();
    const going = () => options.active();
    for (const { at, event } of plan) {
      while (going() && Date.now() < roundStart + at) await sleep(Math.min(250, roundStart + at - Date.now()));
      if (!going()) break;
      const startedAt = Date.now();
      faultEndedAt = 0;
      options.onFault?.(event);
      await apply(event, random);
      // A fault that returned early (nothing to act on) ended when it returned.
      const endedAt = faultEndedAt || Date.now();
      stats.timeline.push({ event, startedAt, endedAt });
      stats.lastFaultAt = Math.max(stats.lastFaultAt ?? 0, endedAt);
      stats.lastHealedAt = Date.now();
    }
    if (plan.length === 0) break;
  }
  return stats;
}
