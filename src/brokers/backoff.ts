// Bounded waits for the inbox's retry loops: each delay doubles up to a cap, with jitter so the consumers
// of one broker do not retry in lockstep, and every wait ends early when the inbox stops.

/** Exponential backoff policy: `baseMs * 2^attempt`, capped at `capMs`. */
export interface Backoff {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseMs: 100, capMs: 5000 };

/**
 * The delay before retry number `attempt` (0 for the first), between half and all of the capped exponential.
 *
 * @example
 * backoffDelay(3, { baseMs: 100, capMs: 5000 }); // 400..800
 */
export function backoffDelay(attempt: number, policy: Backoff = DEFAULT_BACKOFF): number {
  const full = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

/**
 * Waits `ms`, or less if `signal` aborts first; never rejects.
 *
 * @example
 * await pause(backoffDelay(attempt), stopping.signal);
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Calls `fn` when `signal` aborts (at once if it already has); the returned function removes the listener.
 * A session that ends must remove what it added: a listener left on the inbox's lifelong signal per reconnect
 * is a leak that grows with every broker outage.
 *
 * @example
 * const dispose = onAbort(stopping.signal, () => void messages.close());
 * try { ... } finally { dispose(); }
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
