import { sql, type AnyColumn, type SQL } from 'drizzle-orm';

const LITERAL = /^[A-Za-z0-9_]+$/;

/**
 * `column in ('A', 'B', ...)` for a check constraint, from a list written once in a domain's model (its
 * statuses). The values are constants of the code, never input; they are still checked to be plain words.
 *
 * @example
 * check('orders_status_check', textIn(t.status, ORDER_STATUSES))
 */
export function textIn(column: AnyColumn, values: readonly string[]): SQL {
  if (values.length === 0) throw new Error('textIn needs at least one value');
  for (const value of values) if (!LITERAL.test(value)) throw new Error(`${value} is not a plain word`);
  return sql`${column} in (${sql.raw(values.map((value) => `'${value}'`).join(', '))})`;
}
