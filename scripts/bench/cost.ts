// What each command costs, by role, during the measured phase: CPU time of every process from /proc, and
// what PostgreSQL did (statements, commits, rows written, WAL bytes).
//
// - api, workers, inbox: utime + stime of the child's /proc/<pid>/stat (every thread of the process).
// - PostgreSQL: the postmaster (found as the parent of the observer's own backend) with utime + stime +
//   cutime + cstime (its children that already exited), plus utime + stime of every live child of it:
//   every backend, the checkpointer, walwriter, autovacuum and so on, of the whole cluster.
// - load generator: process.cpuUsage() of the bench process (the HTTP clients or the pg-boss producers,
//   and the bench's own polling of the terminal count, twice a second).
// - machine: the busy ticks of /proc/stat's `cpu` line (user + nice + system + irq + softirq + steal).
// - commits and rows written: pg_stat_database of the run's database (xact_commit; tup_inserted +
//   tup_updated + tup_deleted), read after the processes exited, since a backend flushes its counters on exit.
// - WAL bytes: pg_current_wal_lsn() before and after (the whole cluster, like pg_stat_wal.wal_bytes, without
//   waiting for the counters to be flushed).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import type pg from 'pg';
import { one, OBSERVER } from './measure.ts';

/** CPU milliseconds per command of each role; null where it could not be read (PostgreSQL on another machine). */
export interface Cost {
  /** Length of the measured phase, seconds. */
  seconds: number;
  /** The measured phase on the monotonic clock, microseconds (the clock of V8's CPU profiles, to cut them to it). */
  window: { fromUs: number; toUs: number };
  cpuMsPerCommand: {
    /** Each process of the system under test, by name (api, worker-1, ..., inbox; baseline-worker-1, ...). */
    processes: Record<string, number>;
    postgres: number | null;
    generator: number;
    machine: number;
  };
  /** Resident memory of each process (VmRSS of /proc/<pid>/status) when the phase ended, MB. */
  rssMb: Record<string, number>;
  /** Busy share of the machine's cores during the phase, 0..1. */
  machineBusy: number;
  commitsPerCommand: number | null;
  rowsWrittenPerCommand: number | null;
  walBytesPerCommand: number | null;
}

let clockTicks: number | undefined;
/** USER_HZ, the unit of /proc's CPU times (100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** The fields of /proc/<pid>/stat after the command name, so that field n (1-based, as in proc(5)) is at n - 3. */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of a process (and cutime + cstime when asked), in ticks; 0 when it is gone. */
function processTicks(pid: number, withChildren = false): number {
  const f = statFields(pid);
  if (!f) return 0;
  const own = Number(f[11]) + Number(f[12]);
  return withChildren ? own + Number(f[13]) + Number(f[14]) : own;
}

/** VmRSS of a process in MB, or NaN when it is gone. */
function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The postmaster's CPU with every child's, alive or exited, in ticks. */
function clusterTicks(postmaster: number): number {
  let total = processTicks(postmaster, true);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) total += Number(f[11]) + Number(f[12]);
  }
  return total;
}

function machineBusyTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** The postmaster's pid when PostgreSQL runs on this machine (the parent of the observer's backend), else null. */
async function postmasterPid(pool: pg.Pool): Promise<number | null> {
  const row = await one<{ pid: number }>(pool, `SELECT pg_backend_pid() AS pid`);
  const f = statFields(row.pid);
  if (!f) return null;
  try {
    const comm = readFileSync(`/proc/${row.pid}/comm`, 'utf8').trim();
    if (!comm.startsWith('postgres')) return null;
  } catch {
    return null;
  }
  return Number(f[1]);
}

interface DatabaseCounters {
  commits: number;
  written: number;
}

/** pg_stat_database of the pool's database: read after the processes exited, a backend flushes its counters on exit. */
export async function databaseCounters(pool: pg.Pool): Promise<DatabaseCounters> {
  await pool.query(`${OBSERVER} SELECT pg_stat_clear_snapshot()`);
  const row = await one<{ commits: string; written: string }>(
    pool,
    `SELECT xact_commit::text AS commits, (tup_inserted + tup_updated + tup_deleted)::text AS written
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  return { commits: Number(row.commits), written: Number(row.written) };
}

export interface CostMeter {
  /** Call when every command is terminal: freezes the CPU and WAL figures. */
  stop(processes: readonly { name: string; pid: number | undefined }[]): Promise<void>;
  /** Call after the processes exited (their counters flushed): the per-command figures. */
  result(commands: number): Promise<Cost>;
}

/**
 * Starts measuring. `processes` may change while measuring (the drain scenario starts its workers late):
 * a process first seen at stop() is counted from its start.
 *
 * @example
 * const meter = await startCost(pool, [{ name: 'api', pid: api.pid }]);
 * // ... the measured phase ...
 * await meter.stop([{ name: 'api', pid: api.pid }]);
 * await api.stop();
 * const cost = await meter.result(commands);
 */
export async function startCost(pool: pg.Pool, processes: readonly { name: string; pid: number | undefined }[]): Promise<CostMeter> {
  const postmaster = await postmasterPid(pool);
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  const before = {
    at: performance.now(),
    fromUs: monotonicUs(),
    counters: await databaseCounters(pool),
    wal: (await one<{ lsn: string }>(pool, `SELECT pg_current_wal_lsn()::text AS lsn`)).lsn,
    processes: new Map(processes.filter((p) => p.pid !== undefined).map((p) => [p.pid!, processTicks(p.pid!)])),
    postgres: postmaster === null ? null : clusterTicks(postmaster),
    generator: process.cpuUsage(),
    machine: machineBusyTicks(),
  };
  let after:
    | {
        seconds: number;
        toUs: number;
        processes: Record<string, number>;
        rss: Record<string, number>;
        postgres: number | null;
        generatorMs: number;
        machine: number;
        machineBusy: number;
        walBytes: number;
      }
    | undefined;
  const ms = (ticks: number) => (ticks * 1000) / ticksPerSecond();
  return {
    async stop(now) {
      const machine = machineBusyTicks();
      const generator = process.cpuUsage(before.generator);
      const postgres = postmaster === null || before.postgres === null ? null : ms(clusterTicks(postmaster) - before.postgres);
      const seen: Record<string, number> = {};
      const rss: Record<string, number> = {};
      for (const p of now) {
        if (p.pid === undefined) continue;
        seen[p.name] = ms(processTicks(p.pid) - (before.processes.get(p.pid) ?? 0));
        rss[p.name] = rssMb(p.pid);
      }
      const wal = await one<{ bytes: string }>(pool, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes`, [before.wal]);
      after = {
        seconds: (performance.now() - before.at) / 1000,
        toUs: monotonicUs(),
        processes: seen,
        rss,
        postgres,
        generatorMs: (generator.user + generator.system) / 1000,
        machine: ms(machine.busy - before.machine.busy),
        machineBusy: (machine.busy - before.machine.busy) / Math.max(1, machine.total - before.machine.total),
        walBytes: Number(wal.bytes),
      };
    },
    async result(commands) {
      if (!after) throw new Error('the cost meter was not stopped');
      const counters = await databaseCounters(pool);
      const per = (x: number) => x / commands;
      return {
        seconds: after.seconds,
        window: { fromUs: before.fromUs, toUs: after.toUs },
        cpuMsPerCommand: {
          processes: Object.fromEntries(Object.entries(after.processes).map(([name, v]) => [name, per(v)])),
          postgres: after.postgres === null ? null : per(after.postgres),
          generator: per(after.generatorMs),
          machine: per(after.machine),
        },
        rssMb: after.rss,
        machineBusy: after.machineBusy,
        commitsPerCommand: per(counters.commits - before.counters.commits),
        rowsWrittenPerCommand: per(counters.written - before.counters.written),
        walBytesPerCommand: per(after.walBytes),
      };
    },
  };
}
