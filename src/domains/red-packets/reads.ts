import { eq } from 'drizzle-orm';
import type { Database } from '../../db/pool.ts';
import { redPackets } from './table.ts';

export async function readRedPacket(db: Database, id: string) {
  const [row] = await db.select().from(redPackets).where(eq(redPackets.id, id));
  if (!row) return null;
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}
