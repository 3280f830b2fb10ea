import type { Sql } from '../../core/command.ts';
import { int } from '../../processor/entity.ts';
import { GuardViolation, guardedTransition } from '../../processor/sql.ts';
import type { Order, OrderStatus, Transition } from './model.ts';

interface OrderRow {
  id: string;
  account_id: string;
  amount: string | number;
  status: OrderStatus;
  version: number;
}

const COLUMNS = 'id, account_id, amount, status, version';

const toOrder = (row: OrderRow): Order => ({
  id: row.id,
  accountId: row.account_id,
  amount: int(row.amount),
  status: row.status,
  version: row.version,
});

/** Locks an order for the rest of the command's transaction. Orders are locked before accounts. */
export async function lockOrder(sql: Sql, id: string): Promise<Order | null> {
  const { rows } = await sql.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0] ? toOrder(rows[0]) : null;
}

/**
 * Reads an order and holds it against change (but not against other readers) until the transaction ends:
 * a red packet being issued keeps its order from being cancelled under it.
 */
export async function shareOrder(sql: Sql, id: string): Promise<Order | null> {
  const { rows } = await sql.query<OrderRow>(`SELECT ${COLUMNS} FROM orders WHERE id = $1 FOR SHARE`, [id]);
  return rows[0] ? toOrder(rows[0]) : null;
}

/** Creates an order in CREATED at version 1; null when the id is taken. */
export async function insertOrder(sql: Sql, order: { id: string; accountId: string; amount: number }): Promise<Order | null> {
  const { rows } = await sql.query<OrderRow>(
    `INSERT INTO orders (id, account_id, amount, status, version) VALUES ($1, $2, $3, 'CREATED', 1)
     ON CONFLICT (id) DO NOTHING RETURNING ${COLUMNS}`,
    [order.id, order.accountId, order.amount],
  );
  return rows[0] ? toOrder(rows[0]) : null;
}

export async function orderVersion(sql: Sql, id: string): Promise<number | null> {
  const { rows } = await sql.query<{ version: number }>('SELECT version FROM orders WHERE id = $1', [id]);
  return rows[0]?.version ?? null;
}

/**
 * Writes one edge of the state machine as one guarded statement (`status = ANY(from) AND version = v`).
 * The row is locked and the decision already made, so a miss means the code is wrong, not the request:
 * it aborts the transaction instead of writing a state the machine does not allow.
 */
export async function moveOrder(sql: Sql, order: Order, edge: Transition<OrderStatus>): Promise<Order> {
  const version = await guardedTransition(sql, 'orders', order.id, edge.from, edge.to, order.version);
  if (version === null) throw new GuardViolation(`order ${order.id} is not ${edge.from.join(' or ')} at version ${order.version}`);
  return { ...order, status: edge.to, version };
}
