import pg from 'pg';

/**
 * Channel on which settled commands are announced (payload: `clientId id`, or several such keys one per
 * line when a batch records its outcomes), committed with the outcome by
 * the statements that record outcomes (src/db/commands-sql.ts). Declared here so db never imports the processor.
 */
export const SETTLED_CHANNEL = 'oncely_command_settled';

export interface SettledListener {
  /**
   * Resolves when `clientId id` is announced as settled, or after `ms`, whichever comes first.
   * Register before reading the row, then await: a settlement between the read and the await is not missed.
   */
  subscribe(clientId: string, id: string): { next(ms: number, signal?: AbortSignal): Promise<void>; close(): void };
  readonly waiting: number;
  stop(): Promise<void>;
}

/**
 * One LISTEN connection per process that wakes `Prefer: wait` requests the moment their command settles.
 * It reconnects on its own (bounded backoff). Waiters are woken only by it: by their command's notification, and
 * all at once when the connection drops and again when it is back (whatever settled meanwhile is re-read then).
 */
export function createSettledListener(options: { connectionString: string; onError: (err: Error) => void }): SettledListener {
  const waiters = new Map<string, Set<() => void>>();
  let client: pg.Client | undefined;
  let stopped = false;
  let retryDelay = 250;
  let timer: NodeJS.Timeout | undefined;

  const wakeAll = () => {
    for (const set of waiters.values()) for (const wake of set) wake();
  };

  const connect = async () => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: options.connectionString, application_name: 'oncely-listener' });
    const drop = (err?: Error) => {
      if (client !== next) return;
      client = undefined;
      if (err) options.onError(err);
      next.end().catch(() => {});
      wakeAll();
      schedule();
    };
    next.on('error', drop);
    next.on('end', () => drop());
    next.on('notification', (message) => {
      if (!message.payload || waiters.size === 0) return;
      for (const key of message.payload.split('\n')) {
        const set = waiters.get(key);
        if (set) for (const wake of set) wake();
      }
    });
    try {
      client = next;
      await next.connect();
      await next.query(`LISTEN ${SETTLED_CHANNEL}`);
      retryDelay = 250;
      // Anything settled while we were not listening: let every waiter re-read.
      wakeAll();
    } catch (err) {
      drop(err instanceof Error ? err : new Error(String(err)));
    }
  };

  const schedule = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 5000);
  };

  void connect();

  return {
    subscribe(clientId, id) {
      const key = `${clientId} ${id}`;
      let pending: (() => void) | undefined;
      let signalled = false;
      const wake = () => {
        signalled = true;
        pending?.();
      };
      let set = waiters.get(key);
      if (!set) waiters.set(key, (set = new Set()));
      set.add(wake);
      return {
        next(ms, signal) {
          if (signalled || signal?.aborted) {
            signalled = false;
            return Promise.resolve();
          }
          return new Promise<void>((resolve) => {
            const timeout = setTimeout(done, ms);
            function done() {
              clearTimeout(timeout);
              signal?.removeEventListener('abort', done);
              pending = undefined;
              signalled = false;
              resolve();
            }
            signal?.addEventListener('abort', done, { once: true });
            pending = done;
          });
        },
        close() {
          pending?.();
          set.delete(wake);
          if (set.size === 0) waiters.delete(key);
        },
      };
    },
    get waiting() {
      let count = 0;
      for (const set of waiters.values()) count += set.size;
      return count;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wakeAll();
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
