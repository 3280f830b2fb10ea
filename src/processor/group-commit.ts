/**
 * Coalesces concurrent requests into shared flushes (group commit). A request that arrives while no flush is
 * open is flushed at once, alone: no timer, no added latency when idle. Requests that arrive while a flush is
 * open wait for it and then go together in the next one, up to `maxSize` (a request larger than that goes
 * alone). So under load N concurrent requests cost one flush, and the flush size follows the load.
 *
 * A flush may `release` the coalescer before it has ended (for a transaction: when all that is left is its
 * COMMIT), so the next flush runs its statements while this one waits for its commit to be durable.
 */
export interface GroupCommitOptions<I, O> {
  /**
   * Runs one flush: a settled result per item, in order. Throwing fails every item of the flush with that
   * error. Calling `release` lets the next flush start; it is called for the flush when it ends anyway.
   */
  flush(items: readonly I[], release: () => void): Promise<PromiseSettledResult<O>[]>;
  /** The weight of an item against `maxSize` (for submissions: its number of commands). */
  sizeOf(item: I): number;
  maxSize: number;
}

export interface GroupCommit<I, O> {
  submit(item: I): Promise<O>;
  /** Flushes started so far. */
  flushes(): number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (reason: unknown) => void;
}

/**
 * @example
 * const group = createGroupCommit({ flush: async (items) => items.map((value) => ({ status: 'fulfilled', value })), sizeOf: () => 1, maxSize: 500 });
 * await Promise.all([group.submit('a'), group.submit('b')]); // one flush for 'a', then one for 'b' (which arrived during it)
 */
export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const waiting: Waiting<I, O>[] = [];
  let open = false;
  let flushes = 0;

  function take(): Waiting<I, O>[] {
    let size = 0;
    let n = 0;
    while (n < waiting.length) {
      const next = options.sizeOf(waiting[n]!.item);
      if (n > 0 && size + next > options.maxSize) break;
      size += next;
      n++;
    }
    return waiting.splice(0, n);
  }

  function settle(group: readonly Waiting<I, O>[], results: readonly PromiseSettledResult<O>[]): void {
    for (const [i, entry] of group.entries()) {
      const result = results[i];
      if (!result) entry.reject(new Error('group commit: the flush returned no result for a request'));
      else if (result.status === 'fulfilled') entry.resolve(result.value);
      else entry.reject(result.reason);
    }
  }

  function pump(): void {
    if (open || waiting.length === 0) return;
    const group = take();
    open = true;
    flushes++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      open = false;
      pump();
    };
    let flushing: Promise<PromiseSettledResult<O>[]>;
    try {
      flushing = options.flush(
        group.map((entry) => entry.item),
        release,
      );
    } catch (err) {
      flushing = Promise.reject(err);
    }
    flushing.then(
      (results) => {
        settle(group, results);
        release();
      },
      (err: unknown) => {
        for (const entry of group) entry.reject(err);
        release();
      },
    );
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        pump();
      });
    },
    flushes: () => flushes,
  };
}
