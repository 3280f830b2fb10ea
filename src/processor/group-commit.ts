/**
 * Coalesces concurrent requests into shared flushes (group commit). A request that arrives while no flush is
 * open is flushed at once, alone: no timer, no added latency when idle. Requests that arrive while a flush is
 * open wait for it to end and then go together in the next one, up to `maxSize` (a request larger than that
 * goes alone). So under load N concurrent requests cost one flush, and the flush size follows the load.
 *
 * One flush at a time, to its end (for a transaction: its commit included). Letting the next flush start
 * while the open one waited for its commit made flushes smaller, so more of them: on a CPU-bound machine
 * that cost more per command than it saved in latency (docs/performance.md, "Third round: the api").
 */
export interface GroupCommitOptions<I, O> {
  /** Runs one flush: a settled result per item, in order. Throwing fails every item of the flush with that error. */
  flush(items: readonly I[]): Promise<PromiseSettledResult<O>[]>;
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
    const end = () => {
      open = false;
      pump();
    };
    let flushing: Promise<PromiseSettledResult<O>[]>;
    try {
      flushing = options.flush(group.map((entry) => entry.item));
    } catch (err) {
      flushing = Promise.reject(err);
    }
    flushing.then(
      (results) => {
        settle(group, results);
        end();
      },
      (err: unknown) => {
        for (const entry of group) entry.reject(err);
        end();
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
