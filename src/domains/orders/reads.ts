import { eq } from 'drizzle-orm';
import type { ReadContext } from '../../core/domain.ts';
import { orders } from './table.ts';

export async function readOrder({ db }: ReadContext, id: string) {
  const [row] = await db.select().from(orders).where(eq(orders.id, id));
  if (!row) return null;
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}
