// A primary and a streaming standby on loopback, from Debian's PostgreSQL 15 server binaries: what the
// failover runs kill (SIGKILL of the primary and its backends) and promote (`pg_ctl promote`). Synchronous
// mode names the standby in synchronous_standby_names with synchronous_commit = on: a COMMIT returns only once
// the standby has flushed it. Asynchronous mode does not wait: a promotion may lose the last commits.
import { execFile, spawnSync } from 'node:child_process';
import { appendFile, chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../src/db/embedded.ts';
import { startChaosProxy, type ChaosProxy } from './proxy.ts';
import { postgresUser } from './run-as.ts';

const run = promisify(execFile);
export const PG15_BIN = '/usr/lib/postgresql/15/bin';

export type ReplicationMode = 'synchronous' | 'asynchronous';

export interface ReplicatedPair {
  mode: ReplicationMode;
  primaryPort: number;
  standbyPort: number;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  urlOf(port: number, database?: string): string;
  /** SIGKILL of the primary's postmaster and every backend of it: the machine is gone. */
  killPrimary(): Promise<void>;
  /** Drops every byte on the WAL link for `ms` (a partition between the zones), then resets it. */
  partition(ms: number): void;
  /** `pg_ctl promote` of the standby; resolves once it accepts writes. */
  promote(): Promise<void>;
  /** The port of the server that takes writes: the primary, or the standby once promoted. */
  readonly writablePort: number;
  /** Crash the server that takes writes (`pg_ctl stop -m immediate`), as the chaos run's PostgreSQL restarts do. */
  crash(): Promise<void>;
  /** Start it again on the same data directory; resolves once it accepts connections. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Initialises a primary, starts it, clones it with pg_basebackup and starts the clone as a streaming standby;
 * in synchronous mode, resolves once the standby is the synchronous one.
 *
 * @example
 * const pair = await startReplicatedPair('synchronous');
 * await pair.killPrimary();
 * await pair.promote();
 */
export async function startReplicatedPair(mode: ReplicationMode, options: { replicationLatencyMs?: number; log?: (line: string) => void } = {}): Promise<ReplicatedPair> {
  const log = options.log ?? (() => {});
  const user = postgresUser('PostgreSQL');
  const dir = await mkdtemp(path.join(os.tmpdir(), `oncely-failover-${mode}-`));
  await chmod(dir, 0o755);
  if (user) await chown(dir, user.uid, user.gid);
  const as = { ...(user ?? {}), cwd: dir };
  const bin = (name: string) => path.join(PG15_BIN, name);
  const primary = path.join(dir, 'primary');
  const standby = path.join(dir, 'standby');
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const urlOf = (port: number, database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;

  await run(bin('initdb'), ['-D', primary, '-U', 'postgres', '--auth=trust', '--no-sync'], as);
  const settings = [
    `listen_addresses = '127.0.0.1'`,
    `unix_socket_directories = '${dir}'`,
    'max_connections = 300',
    'wal_level = replica',
    'max_wal_senders = 5',
    'hot_standby = on',
    'shared_buffers = 128MB',
    // Only the postmaster is killed, never the machine: the kernel keeps what was written.
    'fsync = off',
    'synchronous_commit = on',
  ];
  await appendFile(path.join(primary, 'postgresql.conf'), `\n${settings.join('\n')}\nport = ${primaryPort}\n`);
  await run(bin('pg_ctl'), ['start', '-D', primary, '-w', '-t', '60', '-l', path.join(dir, 'primary.log')], as);
  await run(bin('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', standby, '-X', 'stream', '-c', 'fast'], as);
  await writeFile(path.join(standby, 'standby.signal'), '');
  // The WAL stream crosses a proxy with latency, as between two zones: what an asynchronous standby lacks when
  // the primary dies is what was still on the way; the proxy drops it with the primary (killPrimary).
  const link: ChaosProxy = await startChaosProxy({ targetPort: primaryPort });
  link.setLatency(options.replicationLatencyMs ?? 0);
  await appendFile(
    path.join(standby, 'postgresql.conf'),
    `\nport = ${standbyPort}\nprimary_conninfo = 'host=127.0.0.1 port=${link.port} user=postgres application_name=standby1'\n`,
  );
  if (user) {
    await chown(path.join(standby, 'standby.signal'), user.uid, user.gid);
  }
  await run(bin('pg_ctl'), ['start', '-D', standby, '-w', '-t', '60', '-l', path.join(dir, 'standby.log')], as);
  // Named on the primary only, after the clone: a promoted standby that inherited the setting would wait
  // for a synchronous standby of its own on every commit, forever (docs/operations.md, "Failover").
  if (mode === 'synchronous') {
    await query(urlOf(primaryPort), `ALTER SYSTEM SET synchronous_standby_names = 'standby1'`);
    await query(urlOf(primaryPort), 'SELECT pg_reload_conf()');
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const rows = await query<{ state: string }>(urlOf(primaryPort), `SELECT sync_state AS state FROM pg_stat_replication WHERE application_name = 'standby1'`);
    if (rows[0] && (mode === 'asynchronous' || rows[0].state === 'sync')) break;
    if (Date.now() > deadline) throw new Error(`the standby did not start streaming (${mode}) within 30 s`);
    await sleep(200);
  }
  log(
    `replication: primary on ${primaryPort}, ${mode} standby on ${standbyPort}, WAL through 127.0.0.1:${link.port} (+${options.replicationLatencyMs ?? 0} ms) (${dir})`,
  );

  let stopped = false;
  let promoted = false;
  const writable = () => (promoted ? { data: standby, port: standbyPort, log: 'standby.log' } : { data: primary, port: primaryPort, log: 'primary.log' });
  return {
    mode,
    primaryPort,
    standbyPort,
    urlOf,
    get writablePort() {
      return writable().port;
    },
    async crash() {
      await run(bin('pg_ctl'), ['stop', '-D', writable().data, '-m', 'immediate', '-w', '-t', '30'], as);
    },
    async start() {
      const server = writable();
      await run(bin('pg_ctl'), ['start', '-D', server.data, '-w', '-t', '60', '-l', path.join(dir, server.log)], as);
    },
    partition(ms) {
      link.blackhole(1000, ms, () => 0);
    },
    async killPrimary() {
      // The machine is gone: the bytes on their way to the standby with it.
      link.reset(1000, () => 0);
      const pid = Number((await readFile(path.join(primary, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const children = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
        .stdout.split('\n')
        .map((line) => Number(line.trim()))
        .filter((n) => n > 0);
      for (const victim of [pid, ...children]) {
        try {
          process.kill(victim, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    async promote() {
      await run(bin('pg_ctl'), ['promote', '-D', standby, '-w', '-t', '60'], as);
      const until = Date.now() + 30_000;
      while ((await query<{ r: boolean }>(urlOf(standbyPort), 'SELECT pg_is_in_recovery() AS r'))[0]?.r !== false) {
        if (Date.now() > until) throw new Error('the promoted standby still recovers after 30 s');
        await sleep(100);
      }
      promoted = true;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await link.close();
      for (const data of [primary, standby]) await run(bin('pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30'], as).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
