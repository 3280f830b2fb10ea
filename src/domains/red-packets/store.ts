import type { Sql } from '../../core/command.ts';
import { int } from '../../processor/entity.ts';
import { GuardViolation, guardedTransition } from '../../processor/sql.ts';
import type { Transition } from '../orders/model.ts';
import type { RedPacket, RedPacketStatus } from './model.ts';

interface RedPacketRow {
  id: string;
  order_id: string;
  account_id: string;
  amount: string | number;
  status: RedPacketStatus;
  version: number;
}

const COLUMNS = 'id, order_id, account_id, amount, status, version';

const toRedPacket = (row: RedPacketRow): RedPacket => ({
  id: row.id,
  orderId: row.order_id,
  accountId: row.account_id,
  amount: int(row.amount),
  status: row.status,
  version: row.version,
});

export async function lockRedPacket(sql: Sql, id: string): Promise<RedPacket | null> {
  const { rows } = await sql.query<RedPacketRow>(`SELECT ${COLUMNS} FROM red_packets WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0] ? toRedPacket(rows[0]) : null;
}

// The business key: the partial unique index red_packets_one_live_per_order admits one live red packet
// per order, whatever the command ids. ON CONFLICT DO NOTHING (no target, so both that index and the
// primary key are arbiters) makes a concurrent second issue wait for the first, then insert nothing
// instead of failing with a unique violation: the caller reads who holds the key and refuses cleanly.
const INSERT_RED_PACKET = `
  INSERT INTO red_packets (id, order_id, account_id, amount, status, version)
  VALUES ($1, $2, $3, $4, 'CREATED', 1)
  ON CONFLICT DO NOTHING
  RETURNING ${COLUMNS}`;

/** Creates a red packet in CREATED at version 1; null when its id or its order's live slot is taken. */
export async function insertRedPacket(
  sql: Sql,
  redPacket: { id: string; orderId: string; accountId: string; amount: number },
): Promise<RedPacket | null> {
  const { rows } = await sql.query<RedPacketRow>(INSERT_RED_PACKET, [redPacket.id, redPacket.orderId, redPacket.accountId, redPacket.amount]);
  return rows[0] ? toRedPacket(rows[0]) : null;
}

export async function redPacketVersion(sql: Sql, id: string): Promise<number | null> {
  const { rows } = await sql.query<{ version: number }>('SELECT version FROM red_packets WHERE id = $1', [id]);
  return rows[0]?.version ?? null;
}

/** The id of the order's live (not CANCELLED) red packet, if it has one. */
export async function liveRedPacketOf(sql: Sql, orderId: string): Promise<string | null> {
  const { rows } = await sql.query<{ id: string }>(`SELECT id FROM red_packets WHERE order_id = $1 AND status <> 'CANCELLED'`, [orderId]);
  return rows[0]?.id ?? null;
}

/** One edge of the red packet state machine as one guarded statement; a miss under the lock is a bug. */
export async function moveRedPacket(sql: Sql, redPacket: RedPacket, edge: Transition<RedPacketStatus>): Promise<RedPacket> {
  const version = await guardedTransition(sql, 'red_packets', redPacket.id, edge.from, edge.to, redPacket.version);
  if (version === null) {
    throw new GuardViolation(`red packet ${redPacket.id} is not ${edge.from.join(' or ')} at version ${redPacket.version}`);
  }
  return { ...redPacket, status: edge.to, version };
}
