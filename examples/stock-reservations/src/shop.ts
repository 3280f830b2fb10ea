// The shop's own HTTP API. Placing an order writes the order row AND submits its stock.reserve command in
// one transaction of the shop's: both commit, or neither does. oncely's own API (commands, reads, OpenAPI)
// is served behind it.
import { Hono } from 'hono';
import { and, eq } from 'drizzle-orm';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { CommandRefusedError, submit, type Oncely, type Submission } from 'oncely';
import { z } from 'zod';
import { shopOrders } from './tables.ts';

const OrderRequest = z.strictObject({
  orderId: z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/),
  sku: z.string(),
  // The shop leaves the quantity's rules to the stock.reserve command's schema: submit() refuses a bad one.
  quantity: z.number(),
});
export type OrderRequest = z.infer<typeof OrderRequest>;

/** The transaction drizzle's `db.transaction()` hands its callback: a query builder on one connection. */
export type ShopTransaction = Parameters<Parameters<NodePgDatabase['transaction']>[0]>[0];

/** Ids derived from the order: a retried request submits the same commands, which oncely absorbs. */
export const reservationIdOf = (orderId: string) => `res-${orderId}`;

/**
 * Inserts the order (unless a retry already did) and submits its reservation, in the caller's transaction.
 *
 * @example
 * await db.transaction((tx) => placeOrder(tx, { orderId: 'o-1', sku: 'apple', quantity: 3 }));
 */
export async function placeOrder(tx: ShopTransaction, order: OrderRequest): Promise<Submission> {
  await tx.insert(shopOrders).values({ id: order.orderId, sku: order.sku, quantity: order.quantity, status: 'PLACED', version: 1 }).onConflictDoNothing();
  const [reserve] = await submit(tx, [
    {
      id: `${order.orderId}-reserve`,
      type: 'stock.reserve',
      entityId: reservationIdOf(order.orderId),
      payload: { orderId: order.orderId, sku: order.sku, quantity: order.quantity },
    },
  ]);
  return reserve!;
}

/** Cancels a placed order and submits the release of its reservation, in the caller's transaction. */
export async function cancelOrder(tx: ShopTransaction, orderId: string): Promise<Submission | null> {
  await tx
    .update(shopOrders)
    .set({ status: 'CANCELLED', updatedAt: new Date() })
    .where(and(eq(shopOrders.id, orderId), eq(shopOrders.status, 'PLACED')));
  const [order] = await tx.select({ id: shopOrders.id }).from(shopOrders).where(eq(shopOrders.id, orderId));
  if (!order) return null;
  // A retried cancel (already CANCELLED) submits the same release again, which oncely answers as a duplicate.
  const [released] = await submit(tx, [{ id: `${orderId}-release`, type: 'stock.release', entityId: reservationIdOf(orderId), payload: {} }]);
  return released!;
}

/**
 * The shop's app: `POST /shop/orders`, `POST /shop/orders/{id}/cancel`, and everything else to oncely's API.
 *
 * @example
 * serve({ fetch: createShop({ db, oncely }).fetch, port: 3000 });
 */
export function createShop(deps: { db: NodePgDatabase; oncely: Oncely }): Hono {
  const app = new Hono();
  app.post('/shop/orders', async (c) => {
    const parsed = OrderRequest.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ code: 'invalid_request', errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) }, 400);
    try {
      const reserve = await deps.db.transaction((tx) => placeOrder(tx, parsed.data));
      return c.json({ orderId: parsed.data.orderId, reserve: { outcome: reserve.outcome, status: reserve.status } }, reserve.outcome === 'accepted' ? 201 : 200);
    } catch (err) {
      // The transaction rolled back: neither the order nor its command exists.
      if (err instanceof CommandRefusedError) return c.json({ code: err.reason, detail: err.detail, errors: err.errors }, 400);
      throw err;
    }
  });
  app.post('/shop/orders/:id/cancel', async (c) => {
    const released = await deps.db.transaction((tx) => cancelOrder(tx, c.req.param('id')));
    if (!released) return c.json({ code: 'not_found', detail: 'no order with this id' }, 404);
    return c.json({ orderId: c.req.param('id'), release: { outcome: released.outcome, status: released.status } }, released.outcome === 'accepted' ? 202 : 200);
  });
  // oncely's API: /v1/commands, /v1/stock-items/{id}, /v1/reservations/{id}, /openapi.json, /health/*.
  app.all('*', (c) => deps.oncely.app.fetch(c.req.raw));
  return app;
}
