// A stop that fails in one part still stops every other part (a pool left open would keep the process up),
// and reports once, in one line naming what failed; the entry points turn it into `oncely: stopping failed: ...`
// and exit 1 instead of an unhandled rejection.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, waitUntil } from '../helpers/system.ts';

const db = useTestDatabase();

const connections = async (application: string) =>
  (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, [application]))
    .rows[0]?.n ?? -1;

describe('a stop that fails', () => {
  it('stops every other part, then rejects once with one line naming the failure', async () => {
    const system = await startTestSystem(db.url, { roles: { api: true, worker: true } });
    await waitUntil(
      () => connections('oncely-listener'),
      (n) => n === 1,
      10_000,
      'the listener to connect',
    );
    // Break one part: its pool is already ended, so ending it again fails.
    await system.pool.end();
    const error = await system.stop().then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(AggregateError);
    expect(error?.message).toMatch(/^stopping failed: .*end on pool more than once/i);
    expect(error?.message.split('\n')).toHaveLength(1);
    // The parts after the failing one and before it were all stopped: no connection of this system is left.
    for (const application of ['oncely-listener', 'oncely-submit', 'oncely-worker', 'oncely']) {
      await waitUntil(
        () => connections(application),
        (n) => n === 0,
        10_000,
        `${application} connections to close`,
      );
    }
  });
});
