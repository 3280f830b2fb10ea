import { eq } from 'drizzle-orm';
import type { Database } from '../../db/pool.ts';
import { orders } from './table.ts';

export async function readOrder(db: Database, id: string) {
  const [row] = await db.select().from(orders).where(eq(orders.id, id));
  if (!row) return null;
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}
