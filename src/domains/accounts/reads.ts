import { and, asc, eq, gt } from 'drizzle-orm';
import type { PageRequest, ReadContext } from '../../core/domain.ts';
import { accounts, ledgerEntries } from './table.ts';

export async function readAccount({ db }: ReadContext, id: string) {
  const [row] = await db.select().from(accounts).where(eq(accounts.id, id));
  if (!row) return null;
  return { ...row, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() };
}

/** Ledger entries oldest first; the cursor is the last entry's sequence number. */
export async function readLedger({ db }: ReadContext, id: string, page: PageRequest) {
  const [account] = await db.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, id));
  if (!account) return null;
  const after = page.cursor && /^\d{1,15}$/.test(page.cursor) ? Number(page.cursor) : 0;
  const rows = await db
    .select()
    .from(ledgerEntries)
    .where(and(eq(ledgerEntries.accountId, id), gt(ledgerEntries.seq, after)))
    .orderBy(asc(ledgerEntries.seq))
    .limit(page.limit + 1);
  const items = rows.slice(0, page.limit).map((row) => ({
    commandId: row.commandId,
    amount: row.amount,
    balanceAfter: row.balanceAfter,
    createdAt: row.createdAt.toISOString(),
  }));
  const last = rows[page.limit - 1];
  return { items, nextCursor: rows.length > page.limit && last ? String(last.seq) : null };
}
