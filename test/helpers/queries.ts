import pg from 'pg';

/**
 * Calls `onQuery` with the client and the first argument (the text or the query config) of every query any
 * pg.Client issues, pooled or not, pipelined or not, until the returned function puts pg's own query back.
 *
 * @example
 * let n = 0;
 * const restore = watchQueries(() => n++);
 * await pool.query('SELECT 1');
 * restore(); // n === 1
 */
export function watchQueries(onQuery: (client: pg.Client, textOrConfig: unknown) => void): () => void {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- applied below with each client as its `this`
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    onQuery(this, args[0]);
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  return () => {
    pg.Client.prototype.query = original;
  };
}
