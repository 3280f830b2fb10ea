import type { Context } from 'hono';
import { isTerminal, type CommandStatus } from '../core/envelope.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { CommandService } from '../processor/commands.ts';
import type { AppEnv } from './deps.ts';
import { MAX_WAIT_SECONDS } from './schemas.ts';

/** `Prefer: wait=N` with 0 < N <= 30, else undefined (an unusable preference is ignored, RFC 7240). */
export function preferredWait(header: string | undefined): number | undefined {
  const match = header && /(?:^|[,;\s])wait\s*=\s*"?(\d{1,6}(?:\.\d{1,6})?)"?\s*(?:[,;]|$)/i.exec(header);
  if (!match?.[1]) return undefined;
  const seconds = Number(match[1]);
  return seconds > 0 && seconds <= MAX_WAIT_SECONDS ? seconds : undefined;
}

export interface WaitOptions {
  commands: Pick<CommandService, 'watch'>;
  metrics: Metrics;
  /** The most requests holding a wait at once in this process. */
  maxWaiters: number;
  /** How many clients share the slots. */
  clients: number;
  /** Aborted when the process stops: every open wait answers at once. */
  stopping?: AbortSignal | undefined;
}

/** A request's `Prefer: wait`, begun before its command is submitted or read. */
export interface PendingWait {
  /**
   * Holds the answer until the command is terminal (within the preference), starting from `status`, which the
   * caller obtained after this wait began; frees the slot. Without a usable preference or a free slot it
   * answers with `status` at once.
   */
  settle(status: CommandStatus): Promise<{ status: CommandStatus; waited?: number }>;
  /** Frees the slot without waiting (the request ended otherwise); settle() does it too. */
  release(): void;
}

export type BeginWait = (c: Context<AppEnv>, id: string) => PendingWait;

const NO_WAIT: PendingWait = { settle: (status) => Promise.resolve({ status }), release: () => {} };

/**
 * Holds a response for `Prefer: wait=N` until the command is terminal, within bounded slots. Each client may
 * hold an equal share of the slots (the only client, without API_KEYS, all of them). The shares add up to
 * the cap, so a client under its share always finds a slot however busy the others are.
 *
 * The wait begins before the request submits or reads its command: the command's settlement is listened for
 * from then on, so the status the submission answers with is as good as a read, and the command is read
 * again only once its settlement is announced (one read per wait instead of two).
 *
 * @example
 * const beginWait = createWaits({ commands, metrics, maxWaiters: 1000, clients: 1 });
 * const wait = beginWait(c, id);
 * const [submission] = await commands.submit(clientId, [command]);
 * const { status, waited } = await wait.settle(submission.status);
 */
export function createWaits(options: WaitOptions): BeginWait {
  const { commands, metrics, maxWaiters, stopping } = options;
  const share = Math.max(1, Math.floor(maxWaiters / Math.max(1, options.clients)));
  let waiting = 0;
  /** Open waits per client, for each client's share of the slots. */
  const waitingBy = new Map<string, number>();
  metrics.waitingLimit(maxWaiters);
  return (c, id) => {
    const seconds = preferredWait(c.req.header('prefer'));
    const clientId = c.get('clientId');
    const mine = waitingBy.get(clientId) ?? 0;
    if (seconds === undefined || waiting >= maxWaiters || mine >= share || stopping?.aborted) return NO_WAIT;
    waiting++;
    waitingBy.set(clientId, mine + 1);
    metrics.waiting(1);
    const watching = commands.watch(clientId, id);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      watching.close();
      waiting--;
      const left = (waitingBy.get(clientId) ?? 1) - 1;
      if (left > 0) waitingBy.set(clientId, left);
      else waitingBy.delete(clientId);
      metrics.waiting(-1);
    };
    return {
      async settle(status) {
        try {
          if (isTerminal(status.status)) return { status };
          // Ends early when the client disconnects (its slot is freed at once) or the process stops.
          const signal = stopping ? AbortSignal.any([c.req.raw.signal, stopping]) : c.req.raw.signal;
          return { status: await watching.until(status, seconds, signal), waited: seconds };
        } finally {
          release();
        }
      },
      release,
    };
  };
}
