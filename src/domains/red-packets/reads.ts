import { eq } from 'drizzle-orm';
import type { ReadContext } from '../../core/domain.ts';
import { redPackets } from './table.ts';

export async function readRedPacket({ db }: ReadContext, id: string) {
  const [row] = await db.select().from(redPackets).where(eq(redPackets.id, id));
  if (!row) return null;
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}
