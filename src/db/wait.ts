// Waiting for PostgreSQL at start: a container started before its database, or a rolling deploy during a
// failover, waits for it with bounded backoff instead of exiting on the first refused connection.
import pg from 'pg';

/** Why the database could not be reached, in a few words; `fatal` when waiting cannot help (bad password, no such database). */
export function describeConnectError(err: unknown): { reason: string; fatal: boolean } {
  const e = err as { code?: string; message?: string };
  switch (e?.code) {
    case 'ECONNREFUSED':
      return { reason: 'connection refused', fatal: false };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { reason: 'host not found', fatal: false };
    case 'ETIMEDOUT':
    case 'ECONNRESET':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EPIPE':
      return { reason: `network error (${e.code})`, fatal: false };
    case '57P03':
      return { reason: 'the database is starting up', fatal: false };
    case '57P01':
    case '57P02':
      return { reason: 'the database is shutting down', fatal: false };
    case '53300':
      return { reason: 'too many connections', fatal: false };
    case '28P01':
    case '28000':
      return { reason: 'authentication failed', fatal: true };
    case '3D000':
      return { reason: 'database does not exist', fatal: true };
    default:
      // pg's own "Connection terminated unexpectedly" / "timeout expired" carry no code: a network failure.
      return /terminated|timeout|ECONNRESET|closed/i.test(e?.message ?? '')
        ? { reason: e?.message ?? 'connection lost', fatal: false }
        : { reason: e?.message ?? String(err), fatal: true };
  }
}

export interface WaitOptions {
  /** The longest to wait in all, in seconds; 0 tries once. */
  seconds: number;
  /** Called after each failed attempt that will be retried: one log line. */
  onAttempt?: (attempt: number, reason: string, retryInMs: number) => void;
  /** Ends the wait early (a signal while waiting). */
  signal?: AbortSignal;
  /** First and largest pause between attempts (default 250 ms doubling to 5 s). */
  firstDelayMs?: number;
  maxDelayMs?: number;
}

export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/**
 * Resolves once a connection to `url` answers `SELECT 1`; rejects with DatabaseUnavailableError (message: one
 * line) when the wait runs out or the failure is one waiting cannot mend (authentication, a missing database).
 *
 * @example
 * await waitForDatabase(url, { seconds: 60, onAttempt: (n, reason) => log.warn({ attempt: n, reason }, 'waiting for PostgreSQL') });
 */
export async function waitForDatabase(url: string, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.seconds * 1000;
  let delay = options.firstDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'oncely-wait' });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      const { reason, fatal } = describeConnectError(err);
      const left = deadline - Date.now();
      if (fatal) throw new DatabaseUnavailableError(`cannot connect to DATABASE_URL: ${reason}`, { cause: err });
      if (left <= 0 || options.signal?.aborted) {
        throw new DatabaseUnavailableError(
          `cannot connect to DATABASE_URL: ${reason}${options.seconds > 0 ? ` (gave up after ${attempt} attempts in ${options.seconds} s, DATABASE_WAIT_SECONDS)` : ''}`,
          { cause: err },
        );
      }
      const pause = Math.min(delay, left);
      options.onAttempt?.(attempt, reason, pause);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pause);
        function done() {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', done);
          resolve();
        }
        options.signal?.addEventListener('abort', done, { once: true });
      });
      delay = Math.min(delay * 2, maxDelay);
    } finally {
      await client.end().catch(() => {});
    }
  }
}
