// A new job wakes one of a worker's loops, preferring one that is applying a batch (it takes the job with
// whatever else came, once its batch commits), and never leaves a job behind a batch that runs long: an idle
// loop takes it after HELP_AFTER_MS, without waiting for a poll.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { accountCommands } from '../../src/domains/accounts/commands.ts';
import { createWakeups, HELP_AFTER_MS } from '../../src/queue/wakeups.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { creditWithSql } from '../helpers/imperative.ts';
import { readStatus, waitForTerminal, waitUntil } from '../helpers/system.ts';

function recorder(loops: number) {
  const woken: number[] = [];
  const wakeups = createWakeups({ loops, notify: (loop) => void woken.push(loop) });
  return { woken, wakeups };
}

describe('createWakeups', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wakes the first loop alone when every loop is idle', () => {
    const { woken, wakeups } = recorder(4);
    wakeups.announced();
    wakeups.announced();
    expect(woken).toEqual([0, 0]);
    wakeups.stop();
  });

  it('tells the loop applying a batch, and an idle loop only once that batch has run HELP_AFTER_MS', async () => {
    vi.useFakeTimers();
    const { woken, wakeups } = recorder(3);
    let finish = () => {};
    const running = wakeups.batch(1, false, () => new Promise<void>((resolve) => (finish = resolve)));
    wakeups.announced();
    wakeups.announced();
    expect(woken).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(HELP_AFTER_MS);
    expect(woken).toEqual([1, 1, 0]);
    // The batch has run long: the next job goes to an idle loop at once.
    wakeups.announced();
    expect(woken).toEqual([1, 1, 0, 0]);
    finish();
    await running;
    wakeups.announced();
    expect(woken).toEqual([1, 1, 0, 0, 0]);
    wakeups.stop();
  });

  it('wakes no idle loop when the batch ended before HELP_AFTER_MS', async () => {
    vi.useFakeTimers();
    const { woken, wakeups } = recorder(2);
    let finish = () => {};
    const running = wakeups.batch(0, false, () => new Promise<void>((resolve) => (finish = resolve)));
    wakeups.announced();
    finish();
    await running;
    await vi.advanceTimersByTimeAsync(HELP_AFTER_MS * 2);
    expect(woken).toEqual([0]);
    wakeups.stop();
  });

  it('wakes an idle loop at once for a full batch, and every loop after a reconnection', async () => {
    const { woken, wakeups } = recorder(3);
    await wakeups.batch(0, true, () => Promise.resolve());
    expect(woken).toEqual([1]);
    wakeups.all();
    expect(woken).toEqual([1, 0, 1, 2]);
    wakeups.stop();
  });
});

let slowStarted = false;
let slowEnded = false;

const slow = defineCommand({
  type: 'test.slow',
  summary: 'credits after holding its batch for 1.5 s',
  payload: z.strictObject({ amount: Amount }),
  async handle(ctx) {
    slowStarted = true;
    await ctx.sql.query('SELECT pg_sleep(1.5)');
    slowEnded = true;
    return creditWithSql(ctx.sql, ctx.command);
  },
});

// A poll far away: only a wakeup can start the second command while the first batch runs.
const { db, system } = useTestSystem({
  registry: createRegistry([...accountCommands, slow]),
  env: { WORKER_CONCURRENCY: '2', WORKER_BATCH_SIZE: '20', POLL_INTERVAL_SECONDS: '30' },
});

beforeAll(async () => {
  await system.commands.submit('anonymous', [
    { id: 'open-w1', type: 'account.open', entityId: 'w1', expectedVersion: undefined, payload: {} },
    { id: 'open-w2', type: 'account.open', entityId: 'w2', expectedVersion: undefined, payload: {} },
  ]);
  await waitForTerminal(db.pool, 'open-w1');
  await waitForTerminal(db.pool, 'open-w2');
});

describe('worker wakeups', () => {
  it('applies a command announced while a long batch runs, before that batch ends', async () => {
    await system.commands.submit('anonymous', [{ id: 'slow-1', type: 'test.slow', entityId: 'w1', expectedVersion: undefined, payload: { amount: 5 } }]);
    await waitUntil(
      () => slowStarted,
      (started) => started,
      10_000,
      'the slow handler to start',
    );
    await system.commands.submit('anonymous', [{ id: 'quick-1', type: 'account.credit', entityId: 'w2', expectedVersion: undefined, payload: { amount: 7 } }]);
    const quick = await waitForTerminal(db.pool, 'quick-1', 10_000);
    expect(quick.status).toBe('succeeded');
    expect(slowEnded).toBe(false);
    expect((await waitForTerminal(db.pool, 'slow-1', 10_000)).status).toBe('succeeded');
    expect((await readStatus(db.pool, 'quick-1'))?.status).toBe('succeeded');
  });
});
