// What a CLI command gets to work with: the database, the queue when it needs one, and its output.
import cliProgress from 'cli-progress';
import type pg from 'pg';
import { directUrlOf, poolerOf, type Config } from '../config.ts';
import { createPool } from '../db/pool.ts';
import type { CommandQueue } from '../queue/boss.ts';
import { ConnectionFailed } from './usage.ts';

export interface Progress {
  increment(step: number): void;
  stop(): void;
}

export interface CliContext {
  config: Config & { DATABASE_URL: string };
  /** DATABASE_URL, which may be a transaction pooler (DATABASE_POOLER): reads, replays and purges are transactions. */
  pool: pg.Pool;
  /** DATABASE_DIRECT_URL, else DATABASE_URL: for what needs a session (the migrations and their lock). */
  directUrl: string;
  /** Prints `value` as JSON with --json, else the human text `render` makes of it; both on stdout. */
  report<T>(value: T, render: (value: T) => string): void;
  /** A progress bar on stderr when stderr is a terminal, else nothing (scripts and pipes stay clean). */
  progress(label: string, total: number): Progress;
  /** The command queue, started on first use (only replay needs it). */
  queue(): Promise<CommandQueue>;
}

export interface OpenContext extends CliContext {
  close(): Promise<void>;
}

/** One line that says why the database could not be reached, without the driver's stack. */
export function describeConnectionError(err: unknown): string {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  if (/unsupported startup parameter/i.test(message ?? '')) {
    return `cannot connect to the database: ${message} (DATABASE_URL looks like a transaction pooler: set DATABASE_POOLER=transaction and DATABASE_DIRECT_URL to PostgreSQL itself)`;
  }
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'host not found'
        : code === '28P01' || code === '28000'
          ? 'authentication failed'
          : code === '3D000'
            ? 'database does not exist'
            : /timeout/i.test(message ?? '')
              ? 'timed out'
              : (message ?? String(err)).split('\n')[0];
  return `cannot connect to the database: ${why} (DATABASE_URL, or the embedded PostgreSQL of npm start)`;
}

const SILENT_BAR: Progress = { increment() {}, stop() {} };

/**
 * Connects to the database (failing with one line if it cannot) and gives the command its context.
 *
 * @example
 * const context = await openContext(config, { json: false, interactive: process.stderr.isTTY });
 * try { await command.run(context, input); } finally { await context.close(); }
 */
export async function openContext(config: Config & { DATABASE_URL: string }, output: { json: boolean; interactive: boolean }): Promise<OpenContext> {
  const url = config.DATABASE_URL;
  const directUrl = directUrlOf(config, url);
  const pool = createPool({ connectionString: url, max: 4, applicationName: 'oncely-cli', onError: () => {}, pooler: poolerOf(config, url) });
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new ConnectionFailed(describeConnectionError(err), { cause: err });
  }
  let queue: Promise<CommandQueue> | undefined;
  return {
    config,
    pool,
    directUrl,
    report(value, render) {
      process.stdout.write(output.json ? JSON.stringify(value) + '\n' : render(value) + '\n');
    },
    progress(label, total) {
      if (!output.interactive || total <= 0) return SILENT_BAR;
      const bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
      return { increment: (step) => bar.increment(step), stop: () => bar.stop() };
    },
    queue() {
      // Like an api process: enqueue only, no supervision or workers, with the same queue policy (pg-boss takes the direct connection).
      queue ??= Promise.all([import('../queue/boss.ts'), import('../queue/options.ts')]).then(([{ startQueue }, { queueSettings }]) =>
        startQueue(queueSettings(config, { connectionString: directUrl, applicationName: 'oncely-cli', onError: () => {} })),
      );
      return queue;
    },
    async close() {
      const started = await queue?.catch(() => undefined);
      await started?.stop();
      await pool.end();
    },
  };
}
