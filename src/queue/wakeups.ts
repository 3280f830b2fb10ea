// Which of a worker's fetch loops a new job wakes. pg-boss wakes every loop of a queue on each NOTIFY, so
// with WORKER_CONCURRENCY loops idle, every submission flush's job was fetched for by all of them: one took
// it and the others found nothing (0.46 fetches per command in scenario 1 of docs/performance.md), and each
// batch carried the few commands of one flush. Here one NOTIFY wakes one loop, and a loop already applying a
// batch is preferred: it fetches again as soon as its batch commits, and takes everything that arrived
// meanwhile: more load makes larger batches, not more transactions. Another loop joins when
// that batch came back full (more is waiting) or when it has been running for a while (a slow handler must
// not hold back the commands behind it).

/** How long a batch may run while jobs wait for it before an idle loop is woken to take them instead. */
export const HELP_AFTER_MS = 50;

export interface Wakeups {
  /** A job was announced on the queue (a NOTIFY): wake one loop, or leave it to one already busy. */
  announced(): void;
  /** Wake every loop (the listener reconnected: announcements may have been missed). */
  all(): void;
  /** Runs loop `loop`'s batch, marked busy meanwhile; a full batch (`full`) wakes an idle loop at once. */
  batch<T>(loop: number, full: boolean, run: () => Promise<T>): Promise<T>;
  stop(): void;
}

/**
 * @example
 * const wakeups = createWakeups({ loops: 4, notify: (loop) => boss.notifyWorker(ids[loop]!) });
 * wakeups.announced(); // wakes loop 0 when all are idle
 */
export function createWakeups(options: { loops: number; notify: (loop: number) => void; helpAfterMs?: number; now?: () => number }): Wakeups {
  const { loops, notify } = options;
  const helpAfterMs = options.helpAfterMs ?? HELP_AFTER_MS;
  const now = options.now ?? Date.now;
  /** When each loop's batch started; undefined while the loop is idle or fetching. */
  const busySince: (number | undefined)[] = new Array<number | undefined>(loops).fill(undefined);
  let helpTimer: NodeJS.Timeout | undefined;
  let stopped = false;

  const idleLoop = (): number | undefined => {
    const loop = busySince.findIndex((since) => since === undefined);
    return loop === -1 ? undefined : loop;
  };

  /** Wakes an idle loop if some batch has run for helpAfterMs with jobs waiting behind it. */
  const help = () => {
    helpTimer = undefined;
    if (stopped) return;
    const idle = idleLoop();
    const oldest = Math.min(...busySince.map((since) => since ?? Infinity));
    if (idle === undefined || oldest === Infinity) return;
    const waited = now() - oldest;
    if (waited >= helpAfterMs) notify(idle);
    else helpTimer = setTimeout(help, helpAfterMs - waited);
  };

  return {
    announced() {
      if (stopped) return;
      let oldest: number | undefined;
      for (const [loop, since] of busySince.entries()) {
        if (since !== undefined && (oldest === undefined || since < busySince[oldest]!)) oldest = loop;
      }
      // Nothing running: the first loop fetches (a loop woken while it fetches fetches again afterwards).
      if (oldest === undefined) return notify(0);
      const idle = idleLoop();
      // Every batch running has run long already: an idle loop takes the job now.
      if (idle !== undefined && now() - busySince[oldest]! >= helpAfterMs) return notify(idle);
      // A loop told while it applies a batch fetches again once that batch commits, taking what came meanwhile.
      notify(oldest);
      if (idle !== undefined) helpTimer ??= setTimeout(help, helpAfterMs);
    },
    all() {
      if (stopped) return;
      for (let loop = 0; loop < loops; loop++) notify(loop);
    },
    async batch(loop, full, run) {
      busySince[loop] = now();
      if (full && !stopped) {
        // A full batch means more is waiting: another loop takes the next batch while this one applies.
        const idle = idleLoop();
        if (idle !== undefined) notify(idle);
      }
      try {
        return await run();
      } finally {
        busySince[loop] = undefined;
      }
    },
    stop() {
      stopped = true;
      if (helpTimer) clearTimeout(helpTimer);
      helpTimer = undefined;
    },
  };
}
