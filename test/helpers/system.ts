import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { parseConfig, type Config } from '../../src/config.ts';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { isTerminal } from '../../src/core/envelope.ts';
import type { Domain } from '../../src/core/domain.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import type { Registry } from '../../src/core/registry.ts';
import { createLogger } from '../../src/log.ts';
import type { ApplyHooks } from '../../src/processor/apply.ts';
import { startSystem as startRealSystem, type Roles, type Seams, type System, type SystemOptions } from '../../src/system.ts';
import { commandsSql } from '../../src/db/commands-sql.ts';
import { DEFAULT_SCHEMA } from '../../src/db/engine-schema.ts';
import { sqlOf } from '../../src/db/pool.ts';
import { toCommandStatus } from '../../src/processor/status.ts';

/** Settings that make crashes and retries show up in seconds, not minutes. */
export const FAST_ENV = {
  JOB_EXPIRE_SECONDS: '4',
  SUPERVISE_INTERVAL_SECONDS: '1',
  RETRY_DELAY_MAX_SECONDS: '1',
  POLL_INTERVAL_SECONDS: '0.5',
  LOG_LEVEL: 'silent',
};

export function testConfig(url: string, env: Record<string, string> = {}): Config & { DATABASE_URL: string } {
  return { ...parseConfig({ ...FAST_ENV, ...env }), DATABASE_URL: url };
}

/** The systems this test file started (each file runs in a module context of its own): the fixture stops those left running. */
const started: { system: System; stopCalled: boolean }[] = [];

/** How many systems this file has started so far. */
export function systemsStarted(): number {
  return started.length;
}

/** The systems this file started (the `since`-th on) whose stop the test never called. */
export function systemsLeftRunning(since = 0): System[] {
  return started
    .slice(since)
    .filter((entry) => !entry.stopCalled)
    .map((entry) => entry.system);
}

/**
 * startSystem as the tests call it: the production options and the seams (src/system.ts) in one object,
 * e.g. `{ ...options, spanExporters: [exporter] }` or `{ ...options, onPurged }`. The system is tracked, so
 * the file fixture (fixture.ts) stops it if the test does not.
 */
export async function startSystem(options: SystemOptions & Seams): Promise<System> {
  const { apply, inbox, relay, spanExporters, onPurged, onReconciled, ...production } = options;
  const system = await startRealSystem(production, { apply, inbox, relay, spanExporters, onPurged, onReconciled });
  const entry = { system, stopCalled: false };
  started.push(entry);
  entry.system = {
    ...system,
    stop() {
      entry.stopCalled = true;
      return system.stop();
    },
  };
  return entry.system;
}

export interface TestSystemOptions {
  roles?: Roles;
  env?: Record<string, string>;
  domains?: readonly Domain[];
  registry?: Registry;
  /** Hooks into each command's transaction (the apply seam). */
  hooks?: ApplyHooks;
  /** The other seams (src/system.ts). */
  seams?: Seams;
}

/** Starts an in-process system (the reference domains unless `domains` says otherwise); the returned stop is idempotent. */
export async function startTestSystem(url: string, options: TestSystemOptions = {}): Promise<System> {
  const config = testConfig(url, options.env);
  return startSystem({
    config,
    roles: options.roles ?? { api: true, worker: true },
    log: createLogger(config.LOG_LEVEL, 'test'),
    migrate: false,
    domains: options.domains ?? referenceDomains,
    ...(options.registry ? { registry: options.registry } : {}),
    ...options.seams,
    ...(options.hooks ? { apply: options.hooks } : {}),
  });
}

/** Polls `read` (a query, or a plain look at some state) until `done` holds or `timeoutMs` passes (then throws with the last value). */
export async function waitUntil<T>(read: () => T | Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await read();
  }
  return last;
}

export async function readStatus(pool: pg.Pool, id: string, clientId = 'anonymous'): Promise<CommandStatus | null> {
  const rows = await commandsSql(DEFAULT_SCHEMA).select(sqlOf(pool), clientId, [id]);
  return rows[0] ? toCommandStatus(rows[0]) : null;
}

export async function waitForTerminal(pool: pg.Pool, id: string, timeoutMs = 30_000, clientId = 'anonymous'): Promise<CommandStatus> {
  const status = await waitUntil(
    () => readStatus(pool, id, clientId),
    (s) => s !== null && isTerminal(s.status),
    timeoutMs,
    `command ${id} to end`,
  );
  if (!status) throw new Error(`command ${id} vanished`);
  return status;
}

/** Waits until no command is left queued or retrying. */
export async function waitForAllTerminal(pool: pg.Pool, timeoutMs = 60_000): Promise<void> {
  await waitUntil(
    async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE status IN ('queued', 'retrying')`)).rows[0]?.n ?? -1,
    (n) => n === 0,
    timeoutMs,
    'every command to end',
  );
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Child {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const ENTRIES = {
  worker: 'src/main/worker.ts',
  api: 'src/main/api.ts',
  'all-in-one': 'src/main/all-in-one.ts',
  migrate: 'src/main/migrate.ts',
  inbox: 'src/main/inbox.ts',
  relay: 'src/main/relay.ts',
  /** The real worker plus the harness's hooks: ONCELY_FAULT kills it at a named point (chaos/faults.ts). */
  'worker-with-faults': 'chaos/entries/worker.ts',
} as const;

/** Runs one of oncely's real entry points (`worker`, `api`, ...), or the harness's worker, as a separate process. */
export function spawnEntry(entry: keyof typeof ENTRIES, env: Record<string, string>): Child {
  let output = '';
  const child = spawn(process.execPath, [ENTRIES[entry]], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...FAST_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    process: child,
    output: () => output,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
